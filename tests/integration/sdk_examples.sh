#!/usr/bin/env bash
# The SDK's example plugins (examples/plugins: a checksum operator, a TCP
# sensor, a JSON field picker) build out of tree against the *installed*
# header with one cc line each, and `pipehost task test` runs each with
# params and upstream XComs, no DAG file written.
# Usage: sdk_examples.sh BUILD_DIR SOURCE_DIR
set -uo pipefail
build=$1 src=$2
work=$(mktemp -d /tmp/ph-sdk.XXXXXX)
listener=
trap 'rm -rf "$work"; [ -n "$listener" ] && kill "$listener" 2>/dev/null' EXIT
chmod 755 "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
export PKG_CONFIG_PATH=$(dirname "$(find "$work/prefix" -name pipehost-plugin.pc | head -1)")
export PIPEHOST_HOME="$work/home"
ph="$work/prefix/bin/pipehost"
mkdir -m 755 "$work/p"
cp "$src"/examples/plugins/*.c "$work/p/"
passed=0 failed=0
check() { # name, condition result (0 ok), detail
  if [ "$2" -eq 0 ]; then passed=$((passed + 1)); echo "ok   $1";
  else failed=$((failed + 1)); echo "FAIL $1: $3"; fi
}
cd "$work/p"
# one cc line each, exactly as the files' comments say
cc -shared -fPIC $(pkg-config --cflags --libs pipehost-plugin glib-2.0) checksum.c -o checksum.so -Wl,-z,defs $(pkg-config --libs glib-2.0); check "checksum builds with one cc line" $? ""
cc -shared -fPIC $(pkg-config --cflags pipehost-plugin) tcp_sensor.c -o tcp_sensor.so -Wl,-z,defs; check "tcp_sensor builds with one cc line" $? ""
cc -shared -fPIC $(pkg-config --cflags pipehost-plugin) json_pick.c -o json_pick.so -Wl,-z,defs; check "json_pick builds with one cc line" $? ""

printf 'hello\n' > "$work/hello.txt"
out=$("$ph" task test checksum --plugin-dir . -p path="$work/hello.txt" 2>&1)
echo "$out" | grep -q '"return_value": "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"'
check "checksum: the SHA-256 of a file as return_value" $? "$out"

out=$("$ph" task test json_pick --plugin-dir . -x 'up={"rows": [{"id": 7}]}' -p from=up -p 'path=rows[0].id' 2>&1)
echo "$out" | grep -q '"return_value": 7'
check "json_pick: a field of an upstream XCom, by path" $? "$out"
out=$("$ph" task test json_pick --plugin-dir . -x 'up={"rows": []}' -p from=up -p 'path=rows[0].id' 2>&1)
echo "$out" | grep -q "failed — the path leads nowhere in the value"
check "json_pick: a path that leads nowhere fails with set_error's message" $? "$out"

exec 3< <(python3 -c 'import socket,time
s=socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(60)')
listener=$!
read -r port <&3
out=$("$ph" task test tcp_sensor --plugin-dir . -p port="$port" -p poke_interval=0.1 -p timeout=5 2>&1)
echo "$out" | grep -q "tcp_sensor: success"
check "tcp_sensor: done once the port accepts" $? "$out"
out=$("$ph" task test tcp_sensor --plugin-dir . -p port=70000 2>&1)
echo "$out" | grep -q "must be between 1 and 65535"
check "tcp_sensor: a port out of range is refused at validation" $? "$out"

# a new plugin from the template: builds with make and passes its own test
"$ph" plugins new hello "$work" >/dev/null
check "plugins new writes a skeleton" $? ""
(cd "$work/hello" && make -s >/dev/null 2>&1)
check "the skeleton builds (make, one cc line)" $? ""
out=$(cd "$work/hello" && PATH="$work/prefix/bin:$PATH" sh test.sh 2>&1)
echo "$out" | grep -q "1 passed, 0 failed"
check "the skeleton's own test passes (pipehost task test)" $? "$out"
lines=$(grep -cv '^\s*\(/\*\|\*\|$\)' "$work/hello/hello.c")
echo "skeleton: $lines lines of code"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
