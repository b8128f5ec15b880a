-- expand_kwargs maps over a list of objects: literal, or an upstream's; a key that is no param fails the task
local ph = require "pipehost"
local d = ph.dag{ id = "map_expand_kwargs" }
local lit = d:task{ id = "lit", op = "bash", expand_kwargs = { { command = "echo 1" }, { command = "echo 2", cwd = "/" } } }
local gen = d:task{ id = "gen", op = "lua", fn = function(ctx) return {{command = 'echo x'}, {command = 'pwd', cwd = '/tmp'}} end }
local from = d:task{ id = "from", op = "bash" }
from:expand_kwargs(gen)
local badgen = d:task{ id = "badgen", op = "lua", fn = function(ctx) return {{commnd = 'true'}} end }
local bad = d:task{ id = "bad", op = "bash" }
bad:expand_kwargs(badgen)
return d
