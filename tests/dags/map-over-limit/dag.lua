-- more items than max_map_length: the mapped task fails, naming the limit; nothing of it runs
local ph = require "pipehost"
local d = ph.dag{ id = "map_over_limit" }
local gen = d:task{ id = "gen", op = "lua", fn = function(ctx) return {1, 2, 3} end }
local sq = d:task{ id = "sq", op = "lua", fn = function(ctx) return ctx.kwargs.x * ctx.kwargs.x end, max_map_length = 2 }
sq:expand{ x = gen }
local after = d:task{ id = "after", op = "bash", command = "true" }
sq >> after
return d
