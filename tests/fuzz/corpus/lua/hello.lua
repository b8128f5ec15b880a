-- The same DAG as hello.yaml, in Lua: `pipehost run examples/hello.lua`
local ph = require "pipehost"

local d = ph.dag{ id = "hello", default_args = { retries = 0 } }

local extract = d:task{ id = "extract", op = "bash", command = "echo 42" }
local report = d:task{
  id = "report", op = "bash",
  command = "echo got {{ xcom_pull('extract') }} on {{ ds }}",
  trigger_rule = "all_success",
}

extract >> report
return d
