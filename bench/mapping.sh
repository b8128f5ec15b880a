#!/usr/bin/env bash
# Dynamic task mapping (issue 20): a 1,000-way mapped task next to 1,000
# separate tasks doing the same -- `empty` (mapped with expand_kwargs over
# 1,000 empty objects: the cost of expanding and finishing instances) and
# `bash true` (expand over 1,000 commands).  Prints the median wall time
# and the host's own CPU (user + sys of pipehost, its children excluded) of
# RUNS runs, and the mapped / separate ratio.
# Usage: bench/mapping.sh [-n N] [-r RUNS] [-j J]
# Build first (cmake --build build); PIPEHOST defaults to build/bin/pipehost.
set -euo pipefail
cd "$(dirname "$0")/.."
N=1000 RUNS=5 J=2
while getopts n:r:j: o; do
  case $o in n) N=$OPTARG ;; r) RUNS=$OPTARG ;; j) J=$OPTARG ;;
  *) sed -n 2,9p "$0"; exit 2 ;; esac
done
PH=${PIPEHOST:-$PWD/build/bin/pipehost}
work=$(mktemp -d "${PH_BENCH_TMP:-/var/tmp}/ph-map.XXXXXX")
trap 'rm -rf "$work"' EXIT
export PIPEHOST_HOME=${PH_BENCH_HOME:-$work/home}

python3 - "$work" "$N" <<'PY'
import json, sys
work, n = sys.argv[1], int(sys.argv[2])
def dag(name, body):
    with open(f"{work}/{name}.yaml", "w") as f:
        f.write(f"dag: {{id: {name}}}\ntasks:\n{body}")
dag("map_empty", f"  m: {{op: empty, expand_kwargs: {json.dumps([{}] * n)}}}\n")
dag("sep_empty", "".join(f"  t{i}: {{op: empty}}\n" for i in range(n)))
dag("map_bash", f"  m: {{op: bash, expand: {{command: {json.dumps(['true'] * n)}}}}}\n")
dag("sep_bash", "".join(f"  t{i}: {{op: bash, command: \"true\"}}\n"
                        for i in range(n)))
PY

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# "wall cpu" medians of RUNS runs: cpu is user + sys of the run as GNU
# time reports it, its children included (for empty there are none: it is
# the host's own CPU, process start and DAG parsing included)
measure() {
  local f=$1 walls=() cpus=()
  for _ in $(seq "$RUNS"); do
    out=$(/usr/bin/time -f '%e %U %S' "$PH" run "$f" -q -j "$J" 2>&1 >/dev/null | tail -1)
    read -r w u s <<< "$out"
    walls+=("$w")
    cpus+=("$(echo "$u + $s" | bc -l)")
  done
  printf '%s %s\n' "$(printf '%s\n' "${walls[@]}" | median)" \
    "$(printf '%s\n' "${cpus[@]}" | median)"
}

printf '%-10s %6s %10s %12s %14s\n' shape N median_s cpu_s mapped/separate
for kind in empty bash; do
  read -r ws cs <<< "$(measure "$work/sep_$kind.yaml")"
  read -r wm cm <<< "$(measure "$work/map_$kind.yaml")"
  printf '%-10s %6s %10s %12s %14s\n' "sep_$kind" "$N" "$ws" "$cs" ""
  printf '%-10s %6s %10s %12s %14.2f\n' "map_$kind" "$N" "$wm" "$cm" \
    "$(echo "$wm / $ws" | bc -l)"
done
