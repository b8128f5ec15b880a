-- expand over an upstream's return value (the upstream becomes an upstream); a lua task's mapped name is a keyword argument
local ph = require "pipehost"
local d = ph.dag{ id = "map_from_upstream" }
local gen = d:task{ id = "gen", op = "lua", fn = function(ctx) return {3, 1, 2} end }
local sq = d:task{ id = "sq", op = "lua", fn = function(ctx) return ctx.kwargs.x * ctx.kwargs.x end }
sq:expand{ x = gen }
local total = d:task{ id = "total", op = "lua", fn = function(ctx) local s = 0 for _, v in ipairs(ctx.xcom_pull('sq')) do s = s + v end return s end }
local all = d:task{ id = "all", op = "lua", fn = function(ctx) return ctx.xcom_pull('sq') end }
sq >> total
sq >> all
return d
