-- one C call the instruction limit cannot see: the wall clock ends it
os.execute("sleep 30")
local ph = require "pipehost"
return ph.dag{ id = "never" }
