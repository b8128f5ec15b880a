-- a >> {b, c}; {b, c} >> j; e << j; e >> f >> g >> h (YAML: upstream)
local ph = require "pipehost"
local d = ph.dag{ id = "lua_dependency_forms" }
local a = d:task{ id = "a", op = "bash", command = "true" }
local b = d:task{ id = "b", op = "bash", command = "true" }
local c = d:task{ id = "c", op = "bash", command = "true" }
local j = d:task{ id = "j", op = "bash", command = "true" }
local e = d:task{ id = "e", op = "bash", command = "true" }
local f = d:task{ id = "f", op = "bash", command = "true" }
local g = d:task{ id = "g", op = "bash", command = "true" }
local h = d:task{ id = "h", op = "bash", command = "echo end" }
a >> { b, c }
{ b, c } >> j
e << j
e >> f >> g >> h
return d
