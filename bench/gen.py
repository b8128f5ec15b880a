#!/usr/bin/env python3
"""Writes the benchmark DAGs: SHAPE (chain, fan, lattice) x N tasks, each
task running `true` (or an `empty` task), as pipehost YAML and Lua, a
Makefile, a build.ninja and a Snakefile.
Usage: gen.py OUTDIR SHAPE N [bash|empty|lua|sql]
(sql tasks use the connection bench_db: a SQLite file, see bench/ops.sh)"""
import os
import sys

out, shape, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
kind = sys.argv[4] if len(sys.argv) > 4 else "bash"
os.makedirs(out, exist_ok=True)


def deps():
    """(task, [upstreams]) in order."""
    if shape == "chain":
        return [(f"t{i}", [f"t{i-1}"] if i else []) for i in range(n)]
    if shape == "fan":
        return [(f"t{i}", []) for i in range(n - 1)] + \
            [("join", [f"t{i}" for i in range(n - 1)])]
    if shape == "lattice":  # layers 10 wide, each task after the whole layer before
        w, rows = 10, []
        for i in range(n):
            layer = i // w
            rows.append((f"t{i}", [f"t{j}" for j in range((layer - 1) * w, layer * w)]
                         if layer else []))
        return rows
    raise SystemExit(f"unknown shape {shape}")


rows = deps()
has_down = {u for _, up in rows for u in up}
sinks = [t for t, _ in rows if t not in has_down]
OPS = {  # kind -> (YAML task head, Lua task body)
    "bash": ('{op: bash, command: "true"', 'op = "bash", command = "true"'),
    "empty": ("{op: empty", 'op = "empty"'),
    "lua": ('{op: lua, fn: "1"', 'op = "lua", fn = "1"'),
    "sql": ("{op: sql, conn_id: bench_db, sql: \"select 1\"",
            'op = "sql", conn_id = "bench_db", sql = "select 1"'),
}
if kind not in OPS:
    raise SystemExit(f"unknown kind {kind}")
op, lua_body = OPS[kind]
with open(f"{out}/dag.yaml", "w") as f:
    f.write(f"dag: {{id: {shape}_{n}}}\ntasks:\n")
    for t, up in rows:
        ups = f", upstream: [{', '.join(up)}]" if up else ""
        f.write(f"  {t}: {op}{ups}}}\n")
with open(f"{out}/dag.lua", "w") as f:
    f.write('local ph = require "pipehost"\n'
            f'local d = ph.dag{{ id = "{shape}_{n}" }}\n')
    for t, up in rows:
        body = lua_body
        ups = ", upstream = { " + ", ".join(f'"{u}"' for u in up) + " }" if up else ""
        f.write(f'd:task{{ id = "{t}", {body}{ups} }}\n')
    f.write("return d\n")
with open(f"{out}/Makefile", "w") as f:
    f.write(f"all: {rows[-1][0] if shape != 'lattice' else ' '.join(t for t, _ in rows[-10:])}\n")
    for t, up in rows:
        f.write(f"{t}: {' '.join(up)}\n\t@true\n.PHONY: {t}\n")
with open(f"{out}/build.ninja", "w") as f:
    f.write("rule t\n  command = true\n")
    for t, up in rows:
        f.write(f"build {t}: t {' '.join(up)}\n")
    f.write(f"default {' '.join(t for t, _ in rows if shape != 'chain' or t == rows[-1][0])}\n")
with open(f"{out}/Snakefile", "w") as f:
    # one wildcard rule whose inputs come from a table, as a user writes a
    # step over many samples; each output is a marker file Snakemake
    # creates itself (touch), since it decides what to run from files
    f.write("import sys\n"
            "sys.setrecursionlimit(max(sys.getrecursionlimit(), 100000))\n"
            f"UP = {dict(rows)!r}\n"
            f"rule all:\n    input: {[f'o/{t}' for t in sinks]!r}\n"
            "wildcard_constraints:\n    t = 't[0-9]+|join'\n"
            "rule task:\n    input: lambda wc: ['o/' + u for u in UP[wc.t]]\n"
            "    output: touch('o/{t}')\n    shell: 'true'\n")
