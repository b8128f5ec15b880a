-- a truthy result lets everything run
local ph = require "pipehost"
local d = ph.dag{ id = "short_circuit_true" }
local check = d:task{ id = "check", op = "short_circuit", fn = function() return 1 < 2 end }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "true" }
check >> a
a >> b
return d
