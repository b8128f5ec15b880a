-- a cache per instance: run twice, every instance of the second run is a cache hit of its own instance, with its own result
local ph = require "pipehost"
local d = ph.dag{ id = "map_cache" }
local gen = d:task{ id = "gen", op = "lua", cache = true, fn = function(ctx) return {1, 2, 3} end }
local sq = d:task{ id = "sq", op = "lua", cache = true, fn = function(ctx) return ctx.kwargs.x * 2 end }
sq:expand{ x = gen }
return d
