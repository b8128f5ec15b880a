-- a chain passes values along with XCom
local ph = require "pipehost"
local d = ph.dag{ id = "chain_xcom" }
local a = d:task{ id = "a", op = "bash", command = "echo 1" }
local b = d:task{ id = "b", op = "bash", command = "echo $(( {{ xcom_pull('a') }} + 1 ))" }
local c = d:task{ id = "c", op = "bash", command = "echo $(( {{ xcom_pull('b') }} + 1 ))" }
a >> b
b >> c
return d
