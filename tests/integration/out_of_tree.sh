#!/usr/bin/env bash
# An out-of-tree plugin builds against the *installed* header with
# pkg-config alone, and an installed pipehost loads and runs it.
# Usage: out_of_tree.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d /tmp/ph-oot.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
pc=$(dirname "$(find "$work/prefix" -name pipehost-plugin.pc | head -1)")
mkdir -m 755 "$work/plugin"
cp "$src/examples/plugin/greet.c" "$src/examples/plugin/Makefile" \
   "$src/examples/plugin/greet.yaml" "$work/plugin/"
# exactly the command the docs give
(cd "$work/plugin" && cc -shared $(PKG_CONFIG_PATH="$pc" pkg-config --cflags pipehost-plugin) \
   greet.c -o greet.so -Wl,-z,defs)
out=$(cd "$work/plugin" && PIPEHOST_HOME="$work/home" \
  "$work/prefix/bin/pipehost" run greet.yaml --plugin-dir . --param who=world --json -q)
echo "$out"
case "$out" in
  *'"hello":{"return_value":"hello, world!"}'*) ;;
  *) echo "FAIL: greet did not push 'hello, world!'"; exit 1 ;;
esac
case "$out" in
  *'"state":"success"'*) ;;
  *) echo "FAIL: run did not succeed"; exit 1 ;;
esac
# a quote in the name is no problem: the host writes the JSON
out=$(cd "$work/plugin" && PIPEHOST_HOME="$work/home" \
  "$work/prefix/bin/pipehost" run greet.yaml --plugin-dir . --param 'who=O"Neil' --json -q)
case "$out" in
  *'"return_value":"hello, O\"Neil!"'*) ;;
  *) echo "FAIL: a quote in a param broke the XCom: $out"; exit 1 ;;
esac
# the installed plugin list names it, and info prints its params
info=$("$work/prefix/bin/pipehost" plugins info greet --plugin-dir "$work/plugin")
case "$info" in *"excited"*"boolean"*) ;; *) echo "FAIL: plugins info: $info"; exit 1 ;; esac
echo "2 passed, 0 failed"
