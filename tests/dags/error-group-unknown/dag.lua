-- a misspelt name inside a group is named, with the nearest member
local ph = require "pipehost"
local d = ph.dag{ id = "g" }
local prep = d:group{ "prep" }
prep:task{ id = "clean", op = "bash", command = "true" }
prep:task{ id = "split", op = "bash", command = "true", upstream = { "claen" } }
