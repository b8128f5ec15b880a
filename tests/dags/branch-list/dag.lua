-- branch follows a list of downstreams
local ph = require "pipehost"
local d = ph.dag{ id = "branch_list" }
local pick = d:task{ id = "pick", op = "branch", fn = function(ctx) return { "a", "b" } end }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "true" }
local c = d:task{ id = "c", op = "bash", command = "true" }
pick >> a
pick >> b
pick >> c
return d
