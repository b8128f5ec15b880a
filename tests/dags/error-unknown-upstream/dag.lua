-- an unknown upstream id is named, with a hint
local ph = require "pipehost"
local d = ph.dag{ id = "error_unknown_upstream" }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "true" }
d:task{ id = "c", op = "empty", upstream = { "aa" } }
return d
