-- a dependency on a group with no tasks is refused
local ph = require "pipehost"
local d = ph.dag{ id = "g" }
local empty = d:group{ "empty" }
local after = d:task{ id = "after", op = "bash", command = "true" }
empty >> after
