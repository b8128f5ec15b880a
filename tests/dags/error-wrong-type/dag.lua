-- a mistyped param names the types
local ph = require "pipehost"
local d = ph.dag{ id = "error_wrong_type" }
local a = d:task{ id = "a", op = "bash", command = { "echo", "hi" } }
return d
