-- ctx is filled from the run context on first use: ti first, a name from the context next to a standard global, every member through pairs, and var the function over the context's var table
local ph = require "pipehost"
local d = ph.dag{ id = "lua_ctx_lazy", params = { who = "me" } }
local first = d:task{ id = "first", op = "lua", fn = function(ctx) return ctx.ti.task_id .. ' ' .. ctx.ti.try_number end }
local mixed = d:task{ id = "mixed", op = "lua", fn = function(ctx) return ctx.ds .. ' ' .. tostring(math.floor(2.5)) .. ' ' .. ctx.params.who end }
local all = d:task{ id = "all", op = "lua", fn = function(ctx) local n = 0 for k in pairs(ctx) do n = n + 1 end return n > 20 and ctx.ds_nodash end }
local var_fn = d:task{ id = "var_fn", op = "lua", fn = function(ctx) return ctx.var('region') end }
return d
