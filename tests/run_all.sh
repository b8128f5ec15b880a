#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs (Debian 12),
# builds twice -- a normal build and an ASan+UBSan build -- and runs every
# test (ctest) in both.  Exit status 0 only if both pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/deps.sh --test
jobs=$(nproc)

echo "== normal build" >&2
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPH_BUILD_TESTS=ON >/dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")

echo "== ASan+UBSan build" >&2
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPH_SANITIZE=ON -DPH_BUILD_TESTS=ON >/dev/null
cmake --build build-asan -j "$jobs"
# handle_segv=0: the hostile-plugin tests crash workers on purpose and check
# the signal the host records; leaks and UB still fail the run.
(cd build-asan && \
  ASAN_OPTIONS=handle_segv=0:detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs")
