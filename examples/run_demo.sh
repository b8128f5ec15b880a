#!/usr/bin/env bash
# The README's demo: installs what pipehost needs (Debian 12), builds it,
# and runs the ML pipeline (examples/ml_pipeline.lua) on the embedded SQLite
# metadata store: a file sensor, a point-in-time training set, XGBoost and
# logistic regression in parallel, a branch that promotes the better model
# if it beats production, predictions, a report.  Then it prints the
# report and the two models side by side.  Run it again: every cacheable
# task is a cache hit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPH_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" >&2
export PIPEHOST_HOME="${PIPEHOST_HOME:-$PWD/build/demo-home}"
status=0
./build/bin/pipehost run examples/ml_pipeline.lua "$@" || status=$?
report=$(./build/bin/pipehost xcom list last 2>/dev/null |
  awk '$1 == "report" && $2 == "return_value" { gsub(/"/, "", $3); print $3 }' || true)
if [ -n "$report" ] && [ -f "$report" ]; then
  echo
  echo "== $report"
  cat "$report"
fi
echo
echo "== pipehost experiments compare"
./build/bin/pipehost experiments compare || true
exit "$status"
