-- a join after a branch with none_failed_min_one_success runs
local ph = require "pipehost"
local d = ph.dag{ id = "branch_join_nfmos" }
local pick = d:task{ id = "pick", op = "branch", fn = function() return "left" end }
local left = d:task{ id = "left", op = "bash", command = "true" }
local right = d:task{ id = "right", op = "bash", command = "true" }
local join = d:task{ id = "join", op = "bash", trigger_rule = "none_failed_min_one_success", command = "true" }
pick >> left
pick >> right
{ left, right } >> join
return d
