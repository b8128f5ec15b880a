-- a template error fails the task with the template text and position
local ph = require "pipehost"
local d = ph.dag{ id = "template_error" }
local bad = d:task{ id = "bad", op = "bash", command = "echo {{ nope.x }}" }
local fine = d:task{ id = "fine", op = "bash", command = "true" }
return d
