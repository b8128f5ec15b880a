-- retries+1 tries for a retryable failure; success on a later try; fail() and skips are never retried
local ph = require "pipehost"
local d = ph.dag{ id = "retries" }
local always_fails = d:task{ id = "always_fails", op = "bash", command = "exit 1", retries = 2, retry_delay = 0 }
local flaky = d:task{ id = "flaky", op = "bash", command = "[ \"$PIPEHOST_TRY_NUMBER\" -ge 2 ]", retries = 3, retry_delay = 0 }
local gives_up = d:task{ id = "gives_up", op = "lua", fn = function(ctx) ctx.fail("no point retrying") end, retries = 3, retry_delay = 0 }
local skips = d:task{ id = "skips", op = "bash", command = "sleep 0.3; exit 99", retries = 2, retry_delay = 0 }
local downstream = d:task{ id = "downstream", op = "bash", command = "true" }
flaky >> downstream
return d
