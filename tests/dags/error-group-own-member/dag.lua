-- a group member cannot depend on its own group
local ph = require "pipehost"
local d = ph.dag{ id = "g" }
local prep = d:group{ "prep" }
local a = prep:task{ id = "a", op = "bash", command = "true" }
prep >> a
