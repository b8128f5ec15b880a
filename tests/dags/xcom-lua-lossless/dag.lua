-- Lua values cross as JSON without loss: mixed keys, lists with holes, json.encode/decode; a value with no JSON form fails loudly
local ph = require "pipehost"
local d = ph.dag{ id = "xcom_lua_lossless" }
local mixed = d:task{ id = "mixed", op = "lua", fn = "{x = 1, [2] = 'two'}" }
local holes = d:task{ id = "holes", op = "lua", fn = "{xcom_pull('nope'), 2}" }
local codec = d:task{ id = "codec", op = "lua", fn = "json.decode(json.encode({a = {1, 2}})).a[2]" }
local bad = d:task{ id = "bad", op = "lua", fn = "{f = print}" }
return d
