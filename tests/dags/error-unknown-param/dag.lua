-- an unknown param gets a suggestion
local ph = require "pipehost"
local d = ph.dag{ id = "error_unknown_param" }
local a = d:task{ id = "a", op = "bash", comand = "true", command = "true" }
return d
