local ph = require "pipehost"
local d = ph.dag{ id = "same", default_args = { retries = 2 }, params = { n = 3 } }
local extract = d:task{ id = "extract", op = "bash", command = "echo 42", env = { A = "1" } }
local t2 = d:task{ id = "t2", op = "bash", command = 'echo "two"', retry_delay = "5m" }
local t3 = d:task{ "t3", op = "empty" }
local join = d:task{ id = "join", op = "empty", trigger_rule = "none_failed" }
extract >> { t2, t3 }
{ t2, t3 } >> join
return d
