-- independent tasks all run
local ph = require "pipehost"
local d = ph.dag{ id = "parallel_independent" }
local p0 = d:task{ id = "p0", op = "bash", command = "echo 0" }
local p1 = d:task{ id = "p1", op = "bash", command = "echo 1" }
local p2 = d:task{ id = "p2", op = "bash", command = "echo 2" }
local p3 = d:task{ id = "p3", op = "bash", command = "echo 3" }
local p4 = d:task{ id = "p4", op = "bash", command = "echo 4" }
local p5 = d:task{ id = "p5", op = "bash", command = "echo 5" }
return d
