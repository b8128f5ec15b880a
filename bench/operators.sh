#!/usr/bin/env bash
# In-process operator shapes next to the bash shapes they are compared
# with (issue 21): a chain and a fan of N tasks of each kind (bash true,
# lua fn "1", sql "select 1" on SQLite), and a fleet of reschedule
# sensors.  Prints the median wall time of RUNS runs and the ratio to the
# bash shape.  Usage: bench/operators.sh [-n N] [-r RUNS] [-j J]
# Build first (cmake --build build); PIPEHOST defaults to build/bin/pipehost.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000 RUNS=5 J=2
while getopts n:r:j: o; do
  case $o in n) N=$OPTARG ;; r) RUNS=$OPTARG ;; j) J=$OPTARG ;;
  *) sed -n 2,7p "$0"; exit 2 ;; esac
done
PH=${PIPEHOST:-$PWD/build/bin/pipehost}
work=$(mktemp -d "${PH_BENCH_TMP:-/var/tmp}/ph-ops.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PIPEHOST_HOME=${PH_BENCH_HOME:-$work/home}
export PIPEHOST_CONN_BENCH_DB="sqlite:///$work/bench.db"

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# wall seconds of one run of a DAG file
wall() {
  /usr/bin/time -f '%e' "$PH" run "$1" -q -j "$J" 2>&1 >/dev/null | tail -1
}

# The kinds of a shape run in turn, RUNS rounds: this VM's speed drifts
# by tens of percent over a minute, which interleaving cancels out of the
# ratios.
printf '%-8s %-6s %6s %10s %10s\n' shape kind N median_s vs_bash
for shape in chain fan; do
  for kind in bash lua sql; do
    python3 bench/gen.py "$work/$shape-$kind" "$shape" "$N" "$kind"
    : > "$work/$shape-$kind.times"
  done
  for _ in $(seq "$RUNS"); do
    for kind in bash lua sql; do
      wall "$work/$shape-$kind/dag.yaml" >> "$work/$shape-$kind.times"
    done
  done
  base=$(median < "$work/$shape-bash.times")
  for kind in bash lua sql; do
    t=$(median < "$work/$shape-$kind.times")
    printf '%-8s %-6s %6s %10s %10.2f\n' "$shape" "$kind" "$N" "$t" \
      "$(echo "$t / $base" | bc -l)"
  done
done

# a fleet of N/5 reschedule sensors waiting for a file that a bash task
# creates after 1 s: each sensor pokes every 0.2 s, one short try a poke
n=$((N / 5))
{
  echo "dag: {id: sensor_fleet}"
  echo "tasks:"
  echo "  make: {op: bash, command: \"sleep 1 && touch $work/ready\"}"
  for i in $(seq "$n"); do
    echo "  s$i: {op: file_sensor, path: \"$work/ready\", mode: reschedule, poke_interval: 0.2, timeout: 60}"
  done
} > "$work/fleet.yaml"
rm -f "$work/ready"
t=$( { /usr/bin/time -f '%e %U %S' "$PH" run "$work/fleet.yaml" -q -j "$J" --json > "$work/fleet.json"; } 2>&1 | tail -1)
run_id=$(python3 -c "import json; print(json.load(open('$work/fleet.json'))['run_id'])")
pokes=$(cat "$PIPEHOST_HOME/logs/sensor_fleet/$run_id"/s*.log | wc -l)
read -r w u sy <<< "$t"
printf 'sensor fleet: %d reschedule sensors, %d pokes; wall %s s, CPU %s s (%.2f ms a poke)\n' \
  "$n" "$pokes" "$w" "$(echo "$u + $sy" | bc -l)" "$(echo "($u + $sy) * 1000 / $pokes" | bc -l)"
