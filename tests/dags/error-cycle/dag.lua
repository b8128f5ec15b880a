-- a cycle is refused and printed
local ph = require "pipehost"
local d = ph.dag{ id = "error_cycle" }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "true" }
local c = d:task{ id = "c", op = "bash", command = "true" }
c >> a
a >> b
b >> c
return d
