-- with ignore_downstream_trigger_rules false only direct downstreams are skipped; the rest follow their trigger rules
local ph = require "pipehost"
local d = ph.dag{ id = "short_circuit_false_rules" }
local check = d:task{ id = "check", op = "short_circuit", fn = function() return 0 end, ignore_downstream_trigger_rules = false }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "true" }
local c = d:task{ id = "c", op = "bash", trigger_rule = "all_done", command = "true" }
local d = d:task{ id = "d", op = "bash", trigger_rule = "none_failed", command = "true" }
check >> a
a >> b
b >> c
a >> d
return d
