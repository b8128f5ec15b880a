#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for
# SECONDS (default 10) from the corpus in tests/fuzz/corpus/TARGET.  A crash
# leaves crash-* in the work dir and fails the script: add the input to the
# corpus and a regression test.  Usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
CC=clang cmake -S . -B build-fuzz -G Ninja -DPH_FUZZ=ON -DPH_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target fuzz_yaml fuzz_lua fuzz_template fuzz_descriptor fuzz_json fuzz_cron >/dev/null
work=$(mktemp -d /tmp/ph-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
failed=0 passed=0
for t in yaml lua template descriptor json cron; do
  mkdir -p "$work/$t"
  if (cd "$work" && ASAN_OPTIONS=detect_leaks=1 "$OLDPWD/build-fuzz/bin/fuzz_$t" \
        -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
        "$work/$t" "$OLDPWD/tests/fuzz/corpus/$t" >"$work/$t.log" 2>&1); then
    echo "fuzz $t: $(grep -Eo 'Done [0-9]+ runs' "$work/$t.log")"
    passed=$((passed + 1))
  else
    echo "fuzz $t: FAILED"; tail -30 "$work/$t.log"; failed=$((failed + 1))
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
