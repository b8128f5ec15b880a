local ph = require "pipehost"
local d = ph.dag{ id = "x" }
local a = d:task{ id = "a", op = "bash", command = "true" }
a >> missing
