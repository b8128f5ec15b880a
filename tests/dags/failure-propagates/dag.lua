-- a failure makes all_success downstreams upstream_failed; an independent branch still runs; the run fails (its leaf failed)
local ph = require "pipehost"
local d = ph.dag{ id = "failure_propagates" }
local a = d:task{ id = "a", op = "bash", command = "exit 1" }
local b = d:task{ id = "b", op = "bash", command = "true" }
local c = d:task{ id = "c", op = "bash", command = "true" }
local other = d:task{ id = "other", op = "bash", command = "true" }
a >> b
b >> c
return d
