-- a fn of statements without return runs (as Lua's REPL reads a line), and a queue key is accepted (ignored by the local executor)
local ph = require "pipehost"
local d = ph.dag{ id = "yaml_fn_chunk" }
local stmts = d:task{ id = "stmts", op = "lua", fn = "local t = {} t.k = 'v' log(t.k)", queue = "gpu" }
return d
