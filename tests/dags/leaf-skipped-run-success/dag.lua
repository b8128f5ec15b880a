-- a skipped leaf counts as success for the run state
local ph = require "pipehost"
local d = ph.dag{ id = "leaf_skipped_run_success" }
local a = d:task{ id = "a", op = "bash", command = "sleep 0.3; exit 99" }
return d
