-- an unknown operator gets a suggestion
local ph = require "pipehost"
local d = ph.dag{ id = "error_unknown_operator" }
local a = d:task{ id = "a", op = "bsh", command = "true" }
return d
