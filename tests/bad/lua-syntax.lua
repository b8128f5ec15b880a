local ph = require "pipehost"
local d = ph.dag{ id = "x" 
d:task{}
