#!/usr/bin/env bash
# Times pipehost next to make and ninja on the same generated DAGs and
# prints a table: median wall time of RUNS runs, and peak RSS.
# Usage: bench/run.sh [-n N] [-r RUNS] [-j PARALLELISM] [-s "chain fan lattice"]
# Snakemake, when installed, runs each shape too (apt-get install snakemake).
# Tools that are not installed are reported as absent.  Build first
# (cmake --build build); PIPEHOST defaults to build/bin/pipehost.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000 RUNS=3 J=2 SHAPES="chain fan lattice"
while getopts n:r:j:s: o; do
  case $o in n) N=$OPTARG ;; r) RUNS=$OPTARG ;; j) J=$OPTARG ;; s) SHAPES=$OPTARG ;;
  *) sed -n 2,7p "$0"; exit 2 ;; esac
done
PH=${PIPEHOST:-$PWD/build/bin/pipehost}
# Scratch space under /var/tmp (PH_BENCH_TMP), away from /tmp's churn.  On
# ext4 without a journal (the machine of docs/benchmarks.md) creating a file
# costs ~0.6 ms instead of ~0.02 ms for minutes after many files near it
# were deleted -- by an earlier bench run, say: each pipehost try creates
# its log file, so give the disk a few minutes between runs.
work=$(mktemp -d "${PH_BENCH_TMP:-/var/tmp}/ph-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
# PH_BENCH_HOME: where pipehost keeps its store and task logs (default: the
# scratch dir, on disk like a user's ~/.pipehost; /dev/shm/... leaves the
# disk out of the comparison)
home=${PH_BENCH_HOME:-$work/home}

# median wall seconds and max RSS (KB) of RUNS runs of a command
measure() {
  local times=() rss=0 t m
  for _ in $(seq "$RUNS"); do
    "$@" >/dev/null 2>"$work/time" || { echo "failed"; return; }
    t=$(awk '/^wall/ {print $2}' "$work/time"); m=$(awk '/^rss/ {print $2}' "$work/time")
    times+=("$t"); [ "$m" -gt "$rss" ] && rss=$m
  done
  printf '%s %s\n' "$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')" "$rss"
}
timed() { /usr/bin/time -f $'wall %e\nrss %M' "$@"; }
# snakemake decides from files what to run: remove its outputs (untimed)
fresh_snake() { rm -rf o .snakemake; timed snakemake -s Snakefile --cores "$J" -q; }

# the floor: the same number of processes started with no scheduler
floor=""
if command -v cc >/dev/null && cc -O2 -o "$work/floor" bench/floor.c 2>/dev/null; then
  floor="$work/floor"
fi
floor_of() { # N J: median wall seconds of RUNS spawn loops of `true`
  for _ in $(seq "$RUNS"); do "$floor" "$1" "$2" "$(command -v true)"; done |
    sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

printf '%-8s %6s %-14s %10s %10s\n' shape N tool "median_s" "peak_rss_KB"
for shape in $SHAPES; do
  d="$work/$shape"
  python3 bench/gen.py "$d" "$shape" "$N"
  for tool in pipehost-yaml pipehost-lua make ninja; do
    case $tool in
      pipehost-*) fmt=${tool#pipehost-}
        r=$(PIPEHOST_HOME="$home" measure timed "$PH" run "$d/dag.$fmt" -q -j "$J") ;;
      make) command -v make >/dev/null || { r="absent"; } ; [ "${r:-}" = absent ] ||
        r=$(measure timed make -s -j "$J" -C "$d" -f Makefile) ;;
      ninja) command -v ninja >/dev/null || { r="absent"; } ; [ "${r:-}" = absent ] ||
        r=$(cd "$d" && measure timed ninja -j "$J" -f build.ninja) ;;

    esac
    printf '%-8s %6s %-14s %10s %10s\n' "$shape" "$N" "$tool" $r
    r=""
  done
  # a chain runs one process at a time; the other shapes up to -j at once
  if [ -n "$floor" ]; then
    jj=$J; [ "$shape" = chain ] && jj=1
    printf '%-8s %6s %-14s %10s %10s\n' "$shape" "$N" "floor-spawn-j$jj" "$(floor_of "$N" "$jj")" -
  fi
done
# snakemake last: it deletes its outputs before each run, and mass
# deletions slow file creation down on some file systems for minutes
# (ext4 without a journal skips recently freed inodes one by one)
for shape in $SHAPES; do
  d="$work/$shape"
  if command -v snakemake >/dev/null; then r=$(cd "$d" && measure fresh_snake); else r=absent; fi
  printf '%-8s %6s %-14s %10s %10s\n' "$shape" "$N" snakemake $r
done
# the scheduler alone: empty tasks never start a process
python3 bench/gen.py "$work/empty" chain "$((N * 10))" empty
r=$(PIPEHOST_HOME="$home" measure timed "$PH" run "$work/empty/dag.yaml" -q)
printf '%-8s %6s %-14s %10s %10s\n' chain "$((N * 10))" pipehost-empty $r
r=$(measure timed "$PH" validate "$work/empty/dag.yaml")
printf '%-8s %6s %-14s %10s %10s\n' chain "$((N * 10))" validate-yaml $r
r=$(measure timed "$PH" validate "$work/empty/dag.lua")
printf '%-8s %6s %-14s %10s %10s\n' chain "$((N * 10))" validate-lua $r
