-- execution_timeout stops a try; the timeout is a retryable failure
local ph = require "pipehost"
local d = ph.dag{ id = "execution_timeout" }
local slow = d:task{ id = "slow", op = "bash", command = "sleep 30", execution_timeout = 1, retries = 1, retry_delay = 0 }
local after = d:task{ id = "after", op = "bash", trigger_rule = "all_done", command = "true" }
slow >> after
return d
