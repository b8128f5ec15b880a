-- Lua floats cross as valid JSON: 1e20 stays 1e20 (json-glib alone writes the invalid 1e+20.0), NaN and infinity become null
local ph = require "pipehost"
local d = ph.dag{ id = "xcom_numbers" }
local nums = d:task{ id = "nums", op = "lua", fn = function(ctx) return {big = 1e20, nan = 0/0, inf = math.huge, small = 1e-7, third = 1/3, int = 7} end }
local check = d:task{ id = "check", op = "lua", fn = function(ctx) local n = ctx.xcom_pull("nums") return n.big == 1e20 and n.nan == nil end }
nums >> check
return d
