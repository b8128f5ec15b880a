#!/usr/bin/env bash
# ABI compatibility: (1) abidiff finds no incompatible change between the
# frozen 1.0 header and the current one; (2) a plugin built against the
# frozen header loads into the current host and runs.
# Usage: check_abi.sh PIPEHOST
set -euo pipefail
ph=$1
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ph-abi.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
passed=0 failed=0
cc -g -shared -fPIC -I"$here/v1.0" "$here/abi_anchor.c" -o "$work/old.so"
cc -g -shared -fPIC -I"$here/../../plugin-api" "$here/abi_anchor.c" -o "$work/new.so"
if command -v abidiff >/dev/null; then
  abidiff "$work/old.so" "$work/new.so" > "$work/abidiff.txt" && rc=0 || rc=$?
  # Appending to a struct (a size change plus "data member insertion" at
  # its end) is what ABI 1.x allows; a moved, removed or retyped member is
  # not, whatever abidiff's exit code says.
  if [ $((rc & 3)) -ne 0 ]; then
    echo "FAIL abidiff could not compare (exit $rc)"; cat "$work/abidiff.txt"; failed=$((failed + 1))
  elif grep -Eq "offset changed|deletion|removed|type changed from|name of|renamed" "$work/abidiff.txt"; then
    echo "FAIL abidiff: an incompatible change since ABI 1.0:"; cat "$work/abidiff.txt"; failed=$((failed + 1))
  else
    echo "ok   abidiff: no incompatible change since ABI 1.0 (exit $rc)"; passed=$((passed + 1))
  fi
else
  echo "FAIL abidiff is not installed (abigail-tools)"; failed=$((failed + 1))
fi
mkdir -m 755 "$work/plugins"
cc -shared -fPIC -fvisibility=hidden -I"$here/v1.0" "$here/v10_plugin.c" \
  -o "$work/plugins/v10.so" -Wl,-z,defs
printf 'dag: {id: abi}\ntasks:\n  t: {op: v10_op}\n' > "$work/dag.yaml"
out=$(PIPEHOST_HOME="$work/home" "$ph" run "$work/dag.yaml" --plugin-dir "$work/plugins" --json -q)
case "$out" in
  *'"return_value":"built against ABI 1.0"'*)
    echo "ok   a plugin built against the 1.0 header runs"; passed=$((passed + 1)) ;;
  *) echo "FAIL 1.0 plugin: $out"; failed=$((failed + 1)) ;;
esac
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
