-- branch returning nil skips every direct downstream
local ph = require "pipehost"
local d = ph.dag{ id = "branch_none" }
local pick = d:task{ id = "pick", op = "branch", fn = function(ctx) return nil end }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "true" }
pick >> a
pick >> b
return d
