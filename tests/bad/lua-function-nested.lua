local ph = require "pipehost"
local d = ph.dag{ id = "x" }
d:task{ id = "a", op = "bash", command = "true", env = { f = io.open } }
