#!/usr/bin/env bash
# Times pipehost next to make and ninja on the same generated DAGs and
# prints a table: median wall time of RUNS runs, and peak RSS.
# Usage: bench/run.sh [-n N] [-r RUNS] [-j PARALLELISM] [-s "chain fan lattice"]
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
# /var/tmp, not /tmp: on the machine of docs/benchmarks.md creating a file
# in /tmp costs ~0.7 ms (elsewhere ~0.02 ms), which would time the disk
# rather than pipehost (each try creates its log file)
work=$(mktemp -d "${PH_BENCH_TMP:-/var/tmp}/ph-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

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

printf '%-8s %6s %-14s %10s %10s\n' shape N tool "median_s" "peak_rss_KB"
for shape in $SHAPES; do
  d="$work/$shape"
  python3 bench/gen.py "$d" "$shape" "$N"
  for tool in pipehost-yaml pipehost-lua make ninja; do
    case $tool in
      pipehost-*) fmt=${tool#pipehost-}
        r=$(PIPEHOST_HOME="$work/home" measure timed "$PH" run "$d/dag.$fmt" -q -j "$J") ;;
      make) command -v make >/dev/null || { r="absent"; } ; [ "${r:-}" = absent ] ||
        r=$(measure timed make -s -j "$J" -C "$d" -f Makefile) ;;
      ninja) command -v ninja >/dev/null || { r="absent"; } ; [ "${r:-}" = absent ] ||
        r=$(cd "$d" && measure timed ninja -j "$J" -f build.ninja) ;;
    esac
    printf '%-8s %6s %-14s %10s %10s\n' "$shape" "$N" "$tool" $r
    r=""
  done
done
# the scheduler alone: empty tasks never start a process
python3 bench/gen.py "$work/empty" chain "$((N * 10))" empty
r=$(PIPEHOST_HOME="$work/home" measure timed "$PH" run "$work/empty/dag.yaml" -q)
printf '%-8s %6s %-14s %10s %10s\n' chain "$((N * 10))" pipehost-empty $r
r=$(measure timed "$PH" validate "$work/empty/dag.yaml")
printf '%-8s %6s %-14s %10s %10s\n' chain "$((N * 10))" validate-yaml $r
r=$(measure timed "$PH" validate "$work/empty/dag.lua")
printf '%-8s %6s %-14s %10s %10s\n' chain "$((N * 10))" validate-lua $r
