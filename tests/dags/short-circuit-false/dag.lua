-- a falsy result skips every downstream, even all_done ones (ignore_downstream_trigger_rules defaults to true)
local ph = require "pipehost"
local d = ph.dag{ id = "short_circuit_false" }
local check = d:task{ id = "check", op = "short_circuit", fn = function() return false end }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "true" }
local c = d:task{ id = "c", op = "bash", trigger_rule = "all_done", command = "true" }
local other = d:task{ id = "other", op = "bash", command = "true" }
check >> a
a >> b
b >> c
return d
