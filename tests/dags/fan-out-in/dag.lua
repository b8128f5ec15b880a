-- a fan-out into an empty join; empty tasks start no try
local ph = require "pipehost"
local d = ph.dag{ id = "fan_out_in" }
local root = d:task{ id = "root", op = "bash", command = "true" }
local m1 = d:task{ id = "m1", op = "bash", command = "true" }
local m2 = d:task{ id = "m2", op = "bash", command = "true" }
local m3 = d:task{ id = "m3", op = "bash", command = "true" }
local join = d:task{ id = "join", op = "empty" }
local final = d:task{ id = "final", op = "bash", command = "echo done" }
root >> m1
root >> m2
root >> m3
{ m1, m2, m3 } >> join
join >> final
return d
