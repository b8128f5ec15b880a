-- a task id defined twice
local ph = require "pipehost"
local d = ph.dag{ id = "dup" }
d:task{ id = "a", op = "bash", command = "true" }
d:task{ id = "a", op = "bash", command = "false" }
return d
