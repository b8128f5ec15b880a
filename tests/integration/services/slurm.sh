#!/usr/bin/env bash
# A throw-away single-node Slurm cluster (munged, slurmctld, slurmd) for the
# tests, on 127.0.0.1, everything under DIR.
#   slurm.sh up DIR    writes DIR/etc/slurm.conf, starts the three daemons,
#                      waits for the node to be idle; prints SLURM_CONF=...
#                      and PH_TEST_SLURM_DIR=DIR
#   slurm.sh down DIR  cancels the jobs, stops the daemons by their pidfiles
# PH_SLURMD_TIMEOUT (default 300): seconds before slurmctld declares a silent
# node down and fails its jobs (NODE_FAIL); a test of node loss lowers it.
# Needs root: slurmd starts jobs as the user who submitted them.  The node
# claims 8 CPUs whatever the machine has, so that short test jobs do not
# queue behind 2 slots.  Finished jobs stay visible to `squeue -t all` for
# an hour (MinJobAge), which pipehost's status polling uses.
set -euo pipefail
cmd=${1:?up|down} dir=${2:?state dir}
conf=$dir/etc/slurm.conf run=$dir/run

alive() { # alive PIDFILE: the daemon it names runs
  [ -s "$1" ] && kill -0 "$(head -n1 "$1")" 2>/dev/null
}
stop() { # stop PIDFILE: TERM, then KILL after 10 s
  alive "$1" || return 0
  local pid; pid=$(head -n1 "$1")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

if [ "$cmd" = down ]; then
  [ -d "$dir" ] || exit 0
  export SLURM_CONF=$conf
  if alive "$run/slurmctld.pid"; then
    scancel --full -u "$(id -un)" 2>/dev/null || true
    for _ in $(seq 50); do [ -z "$(squeue -h -o %A 2>/dev/null)" ] && break; sleep 0.1; done
  fi
  stop "$run/slurmd.pid"
  stop "$run/slurmctld.pid"
  stop "$run/munged.pid"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  # not an error: integration.slurm skips itself without root
  echo "slurm.sh: not root: no Slurm (slurmd must start jobs as their user)" >&2
  exit 0
fi
for p in munged slurmctld slurmd sbatch; do
  command -v "$p" >/dev/null || { echo "slurm.sh: $p missing (apt-get install munge slurmctld slurmd slurm-client)" >&2; exit 1; }
done
mkdir -p "$dir/etc" "$dir/munge" "$run" "$dir/state" "$dir/spool" "$dir/log"
chmod 700 "$dir/munge" "$dir/state"
chmod 755 "$dir" "$dir/etc" "$run" "$dir/log" "$dir/spool"
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ctld_port=$(free_port)
slurmd_port=$(free_port)
while [ "$slurmd_port" = "$ctld_port" ]; do slurmd_port=$(free_port); done

# munge: a key of our own and a socket in DIR (no system munged needed)
[ -s "$dir/munge/munge.key" ] || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1 count=1024 status=none
chmod 600 "$dir/munge/munge.key"
sock=$run/munge.socket
rm -f "$sock" "$sock.lock"
munged --key-file="$dir/munge/munge.key" --socket="$sock" --pid-file="$run/munged.pid" \
  --log-file="$dir/log/munged.log" --seed-file="$dir/munge/seed" --force >&2
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
munge -n -S "$sock" | unmunge -S "$sock" >/dev/null ||
  { echo "slurm.sh: munge does not answer; see $dir/log/munged.log" >&2; exit 1; }

mem=$(awk '/^MemTotal:/ {m = int($2 / 1024) - 1024; print (m < 256 ? 256 : m)}' /proc/meminfo)
overrides=""
[ "$(nproc)" -ge 8 ] || overrides="SlurmdParameters=config_overrides"
cat > "$conf" <<EOF
ClusterName=pipehost-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$run/slurmctld.pid
SlurmdPidFile=$run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
# without --mem a job asks for this much, not the whole node (one job at a time)
DefMemPerCPU=256
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
$overrides
ReturnToService=2
SlurmdTimeout=${PH_SLURMD_TIMEOUT:-300}
MinJobAge=3600
KillWait=2
InactiveLimit=0
MailProg=/bin/true
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=8 RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=other Nodes=localhost MaxTime=INFINITE State=UP
EOF
# slurmd 22.05 always loads a cgroup plugin; v1 named outright starts in a
# container without cgroups mounted and is not used (proctrack/linuxproc)
echo 'CgroupPlugin=cgroup/v1' > "$dir/etc/cgroup.conf"
chmod 644 "$conf" "$dir/etc/cgroup.conf"
export SLURM_CONF=$conf
slurmctld -f "$conf" -i >&2
ok=""
for _ in $(seq 150); do
  scontrol ping 2>/dev/null | grep -q 'is UP' && { ok=1; break; }
  sleep 0.1
done
[ -n "$ok" ] || { tail -20 "$dir/log/slurmctld.log" >&2; exit 1; }
slurmd -f "$conf" -N localhost >&2
state=""
for _ in $(seq 300); do
  state=$(sinfo -h -N -n localhost -o %T 2>/dev/null | head -n1)
  case $state in idle | mixed | allocated) break ;; esac
  sleep 0.1
done
case $state in idle | mixed | allocated) ;;
*) tail -20 "$dir/log/slurmd.log" >&2; echo "slurm.sh: node is '$state', not idle" >&2; exit 1 ;;
esac
echo "SLURM_CONF=$conf"
echo "PH_TEST_SLURM_DIR=$dir"
