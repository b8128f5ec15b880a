#!/usr/bin/env bash
# The bad-input catalogue: each file here is a malformed DAG and NAME.expect
# holds a regex its error must match.  `pipehost validate` must exit 2 with
# that message, quickly, never crash.  Usage: run_bad.sh PIPEHOST
set -u
ph=$1
cd "$(dirname "$0")"
export PIPEHOST_DAG_LOAD_TIMEOUT=1 PIPEHOST_DAG_LOAD_MEMORY_MB=64
export PIPEHOST_HOME=$(mktemp -d /tmp/ph-bad.XXXXXX)
trap 'rm -rf "$PIPEHOST_HOME"' EXIT
passed=0 failed=0
# a 17 MiB file is refused by size, not parsed
big=$(mktemp /tmp/ph-bad-XXXXXX.yaml)
{ printf 'dag: {id: x}\ntasks:\n  a: {op: bash, command: "'; head -c $((17 << 20)) /dev/zero | tr '\0' x; printf '"}\n'; } > "$big"
for f in *.yaml *.lua *.txt "$big"; do
  name=${f%.*}
  want=$(cat "$name.expect" 2>/dev/null || echo 'over the 16 MiB limit')
  # NAME.timeout: this case's own load time limit (the memory bomb must
  # reach the memory limit first, even on a slow sanitizer build)
  lt=$(cat "$name.timeout" 2>/dev/null || echo 1)
  out=$(PIPEHOST_DAG_LOAD_TIMEOUT=$lt timeout 60 "$ph" validate "$f" 2>&1); rc=$?
  if [ "$rc" -eq 2 ] && printf '%s' "$out" | grep -Eq -- "$want"; then
    passed=$((passed + 1)); echo "ok   $(basename "$f")"
  else
    failed=$((failed + 1)); echo "FAIL $(basename "$f"): exit $rc, wanted /$want/, got: $out"
  fi
done
rm -f "$big"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
