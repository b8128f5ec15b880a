-- branch follows one direct downstream; the other skips
local ph = require "pipehost"
local d = ph.dag{ id = "branch_one" }
local pick = d:task{ id = "pick", op = "branch", fn = function(ctx) return "left" end }
local left = d:task{ id = "left", op = "bash", command = "true" }
local right = d:task{ id = "right", op = "bash", command = "true" }
local after_right = d:task{ id = "after_right", op = "bash", command = "true" }
pick >> left
pick >> right
right >> after_right
return d
