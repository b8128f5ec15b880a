-- a join after a branch with the default all_success is skipped
local ph = require "pipehost"
local d = ph.dag{ id = "branch_join_all_success" }
local pick = d:task{ id = "pick", op = "branch", fn = function() return "left" end }
local left = d:task{ id = "left", op = "bash", command = "true" }
local right = d:task{ id = "right", op = "bash", command = "true" }
local join = d:task{ id = "join", op = "bash", command = "true" }
pick >> left
pick >> right
{ left, right } >> join
return d
