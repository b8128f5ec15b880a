-- lua_sensor pokes a Lua callable until it is truthy (Airflow's PythonSensor); its value becomes the XCom; soft_fail skips at timeout
local ph = require "pipehost"
local d = ph.dag{ id = "lua_sensor" }
local ok = d:task{ id = "ok", op = "lua_sensor", fn = "{ready = true}", poke_interval = 0.1, timeout = 5 }
local never = d:task{ id = "never", op = "lua_sensor", fn = "0", poke_interval = 0.1, timeout = 0.5, soft_fail = true }
return d
