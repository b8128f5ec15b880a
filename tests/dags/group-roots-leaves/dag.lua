-- only a group's roots wait for its upstream and only its leaves hold its downstream back; a group can follow a group
local ph = require "pipehost"
local d = ph.dag{ id = "group_roots_leaves" }
local start = d:task{ id = "start", op = "bash", command = "echo s" }
local a = d:group{ "a" }
local one = a:task{ id = "one", op = "bash", command = "echo 1" }
local two = a:task{ id = "two", op = "bash", command = "echo 2" }
one >> two
local b = d:group{ "b" }
b:task{ id = "three", op = "lua",
        fn = function(ctx) return ctx.xcom_pull("a.two") end }
local finish = d:task{ id = "finish", op = "lua", fn = function(ctx)
  return ctx.xcom_pull({ "a.one", "a.two", "b.three" }) end }
start >> a >> b >> finish
