-- branch decides from an upstream XCom
local ph = require "pipehost"
local d = ph.dag{ id = "branch_on_xcom", params = { items = { 1, 2, 3 } } }
local count = d:task{ id = "count", op = "lua", fn = function(ctx) return #ctx.params.items end }
local pick = d:task{ id = "pick", op = "branch", fn = function(ctx) return ctx.xcom_pull("count") > 2 and "big" or "small" end }
local big = d:task{ id = "big", op = "bash", command = "true" }
local small = d:task{ id = "small", op = "bash", command = "true" }
count >> pick
pick >> big
pick >> small
return d
