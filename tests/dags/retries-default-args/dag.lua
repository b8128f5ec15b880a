-- default_args retries apply to every task
local ph = require "pipehost"
local d = ph.dag{ id = "retries_default_args", default_args = { retries = 2, retry_delay = 0 } }
local a = d:task{ id = "a", op = "bash", command = "exit 1" }
local b = d:task{ id = "b", op = "bash", command = "[ \"$PIPEHOST_TRY_NUMBER\" -ge 3 ]" }
return d
