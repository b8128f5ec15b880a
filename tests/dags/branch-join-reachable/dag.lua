-- a join that is a direct downstream of the branch but reachable from the chosen task is not skipped (skip_all_except)
local ph = require "pipehost"
local d = ph.dag{ id = "branch_join_reachable" }
local pick = d:task{ id = "pick", op = "branch", fn = function() return "a" end }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "true" }
local join = d:task{ id = "join", op = "bash", command = "true" }
pick >> a
pick >> b
{ pick, a } >> join
return d
