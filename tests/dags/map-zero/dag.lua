-- zero items: the mapped task is skipped, and its skip propagates (an empty Lua table is an empty list)
local ph = require "pipehost"
local d = ph.dag{ id = "map_zero" }
local gen = d:task{ id = "gen", op = "lua", fn = function(ctx) return {} end }
local sq = d:task{ id = "sq", op = "lua", fn = function(ctx) return ctx.kwargs.x * ctx.kwargs.x end }
sq:expand{ x = gen }
local after = d:task{ id = "after", op = "bash", command = "true" }
local done = d:task{ id = "done", op = "bash", trigger_rule = "none_failed", command = "true" }
sq >> after
sq >> done
return d
