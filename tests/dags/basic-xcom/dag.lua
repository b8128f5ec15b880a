-- the last stdout line is return_value; templates pull it
local ph = require "pipehost"
local d = ph.dag{ id = "basic_xcom" }
local extract = d:task{ id = "extract", op = "bash", command = "echo 42" }
local report = d:task{ id = "report", op = "bash", command = "test {{ xcom_pull('extract') }} = 42 && echo ok" }
extract >> report
return d
