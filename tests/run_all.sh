#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what it needs (Debian 12),
# builds twice -- a normal build and an ASan+UBSan build -- and runs every
# test (ctest) in both.  Exit status 0 only if both pass.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tests/deps.sh --test
jobs=$(nproc)

# Servers the integration tests need, on 127.0.0.1, stopped by pid on exit.
# Each tests/integration/services/NAME.sh up DIR prints KEY=value lines.
svc_state=$(mktemp -d /tmp/pipehost-svc.XXXXXX)
chmod 755 "$svc_state"
stop_services() {
  for s in tests/integration/services/*.sh; do
    [ -e "$s" ] || continue
    bash "$s" down "$svc_state/$(basename "$s" .sh)" >/dev/null 2>&1 || true
  done
  rm -rf "$svc_state"
}
trap stop_services EXIT
for s in tests/integration/services/*.sh; do
  [ -e "$s" ] || continue
  name=$(basename "$s" .sh)
  mkdir -p "$svc_state/$name" && chmod 755 "$svc_state/$name"
  echo "== starting $name" >&2
  if ! lines=$(bash "$s" up "$svc_state/$name"); then
    echo "pipehost tests: could not start the $name server (see above)" >&2
    exit 1
  fi
  while IFS= read -r line; do
    case "$line" in *=*) export "${line%%=*}=${line#*=}" ;; esac
  done <<< "$lines"
done

echo "== normal build" >&2
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPH_BUILD_TESTS=ON >/dev/null
cmake --build build -j "$jobs"
(cd build && ctest --output-on-failure -j "$jobs")

echo "== clang build (warnings are errors on a second compiler)" >&2
CC=clang cmake -S . -B build-clang -G Ninja -DPH_BUILD_TESTS=ON >/dev/null
cmake --build build-clang -j "$jobs" >/dev/null

echo "== fuzz smoke (libFuzzer, a few seconds per target)" >&2
bash tests/fuzz/run.sh "${PH_FUZZ_SECONDS:-5}"

echo "== ASan+UBSan build" >&2
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPH_SANITIZE=ON -DPH_BUILD_TESTS=ON >/dev/null
cmake --build build-asan -j "$jobs"
# handle_segv=0: the hostile-plugin tests crash workers on purpose and check
# the signal the host records; leaks and UB still fail the run.
# G_SLICE=always-malloc: GLib 2.74's slice allocator keeps freed blocks in
# magazines, which hides a leaked json-glib node or GList from LeakSanitizer.
(cd build-asan && \
  G_SLICE=always-malloc \
  ASAN_OPTIONS=handle_segv=0:detect_leaks=1:abort_on_error=0 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --output-on-failure -j "$jobs")
