local ph = require "pipehost"
local d = ph.dag{ id = "x" }
while true do end
