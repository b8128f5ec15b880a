-- a missing required param is named
local ph = require "pipehost"
local d = ph.dag{ id = "error_missing_param" }
local a = d:task{ id = "a", op = "bash" }
return d
