-- map over a mapped task's output (map, map, reduce)
local ph = require "pipehost"
local d = ph.dag{ id = "map_map_reduce" }
local gen = d:task{ id = "gen", op = "lua", fn = function(ctx) return {1, 2, 3} end }
local double = d:task{ id = "double", op = "lua", fn = function(ctx) return ctx.kwargs.x * 2 end }
double:expand{ x = gen }
local inc = d:task{ id = "inc", op = "lua", fn = function(ctx) return ctx.kwargs.x + 1 end }
inc:expand{ x = double }
local reduce = d:task{ id = "reduce", op = "lua", fn = function(ctx) return ctx.xcom_pull('inc') end }
inc >> reduce
return d
