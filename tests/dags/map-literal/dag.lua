-- expand over a literal list: one instance per item, map_index in order; a downstream pulls the list of their values in map_index order (the reduce)
local ph = require "pipehost"
local d = ph.dag{ id = "map_literal" }
local echo = d:task{ id = "echo", op = "bash", expand = { command = { "echo a", "echo b", "echo c" } } }
local reduce = d:task{ id = "reduce", op = "lua", fn = function(ctx) return ctx.xcom_pull('echo') end }
echo >> reduce
return d
