-- a Latin-1 byte in a value: JSON text is UTF-8
local ph = require "pipehost"
local d = ph.dag{ id = "latin1" }
d:task{ id = "a", op = "bash", command = "echo caf\233" }
return d
