-- a downstream's trigger rule counts every mapped instance (one of three fails)
local ph = require "pipehost"
local d = ph.dag{ id = "map_trigger_rules" }
local m = d:task{ id = "m", op = "bash", expand = { command = { "true", "exit 1", "true" } } }
local all_success = d:task{ id = "all_success", op = "bash", command = "true" }
local all_done = d:task{ id = "all_done", op = "bash", trigger_rule = "all_done", command = "true" }
local one_failed = d:task{ id = "one_failed", op = "bash", trigger_rule = "one_failed", command = "true" }
local one_success = d:task{ id = "one_success", op = "bash", trigger_rule = "one_success", command = "true" }
local none_failed = d:task{ id = "none_failed", op = "bash", trigger_rule = "none_failed", command = "true" }
local all_failed = d:task{ id = "all_failed", op = "bash", trigger_rule = "all_failed", command = "true" }
m >> all_success
m >> all_done
m >> one_failed
m >> one_success
m >> none_failed
m >> all_failed
return d
