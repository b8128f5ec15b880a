-- the constant keyword arguments stay each instance's own: mapping x next to kwargs {y: 1} gives every instance its x
local ph = require "pipehost"
local d = ph.dag{ id = "map_kwargs_partial" }
local f = d:task{ id = "f", op = "lua", fn = function(ctx) return ctx.kwargs.x * 10 + ctx.kwargs.y end, kwargs = { y = 1 }, expand = { x = { 1, 2, 3 } } }
local reduce = d:task{ id = "reduce", op = "lua", fn = function(ctx) return ctx.xcom_pull('f') end }
f >> reduce
return d
