-- pulling a list of task ids gives a list, in order
local ph = require "pipehost"
local d = ph.dag{ id = "xcom_pull_list" }
local a = d:task{ id = "a", op = "bash", command = "echo 1" }
local b = d:task{ id = "b", op = "bash", command = "echo 2" }
local both = d:task{ id = "both", op = "lua", fn = function(ctx) return ctx.xcom_pull({ "b", "a" }) end }
{ a, b } >> both
return d
