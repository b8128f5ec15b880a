-- several expanded params form a cartesian product, the first outermost; map_index is in the context
local ph = require "pipehost"
local d = ph.dag{ id = "map_cartesian" }
local pair = d:task{ id = "pair", op = "lua", fn = function(ctx) return ctx.kwargs.a .. ctx.kwargs.b .. ctx.ti.map_index end, expand = { a = { "1", "2" }, b = { "x", "y", "z" } } }
local reduce = d:task{ id = "reduce", op = "lua", fn = function(ctx) return ctx.xcom_pull('pair') end }
pair >> reduce
return d
