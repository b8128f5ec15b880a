#!/usr/bin/env bash
# The README's demo: installs what pipehost needs (Debian 12), builds it,
# and runs the example pipeline on the embedded SQLite metadata store.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPH_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" >&2
export PIPEHOST_HOME="${PIPEHOST_HOME:-$PWD/build/demo-home}"
status=0
./build/bin/pipehost run examples/pipeline.lua "$@" || status=$?
report=$(ls -t "$PIPEHOST_HOME"/demo/*/report.txt 2>/dev/null | head -1)
if [ -n "$report" ]; then
  echo
  echo "== $report"
  cat "$report"
fi
exit "$status"
