-- xcom_push with a custom key; a table return value is a JSON object; empty stdout pushes nothing
local ph = require "pipehost"
local d = ph.dag{ id = "xcom_keys_and_tables" }
local push = d:task{ id = "push", op = "lua", fn = function(ctx) ctx.xcom_push("k", { x = 1 }) end }
local obj = d:task{ id = "obj", op = "lua", fn = function(ctx) return { name = "pipehost", n = 2 } end }
local silent = d:task{ id = "silent", op = "bash", command = "true" }
local reader = d:task{ id = "reader", op = "lua", fn = function(ctx) return ctx.xcom_pull("push", "k").x + ctx.xcom_pull("obj").n end }
{ push, obj } >> reader
return d
