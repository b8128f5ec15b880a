-- an unknown trigger rule gets a suggestion
local ph = require "pipehost"
local d = ph.dag{ id = "error_bad_trigger_rule" }
local a = d:task{ id = "a", op = "bash", trigger_rule = "all_sucess", command = "true" }
return d
