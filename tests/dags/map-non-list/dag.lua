-- an upstream value that is not a list fails the mapped task with a message naming the upstream and the value's type
local ph = require "pipehost"
local d = ph.dag{ id = "map_non_list" }
local gen = d:task{ id = "gen", op = "lua", fn = function(ctx) return {a = 1} end }
local sq = d:task{ id = "sq", op = "lua", fn = function(ctx) return ctx.kwargs.x * ctx.kwargs.x end }
sq:expand{ x = gen }
local none = d:task{ id = "none", op = "lua", fn = function(ctx) return nil end }
local sq2 = d:task{ id = "sq2", op = "lua", fn = function(ctx) return ctx.kwargs.x * ctx.kwargs.x end }
sq2:expand{ x = none }
return d
