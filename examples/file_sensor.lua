-- The same as examples/file_sensor.yaml, in Lua (see there for how to run it).
local ph = require "pipehost"
local d = ph.dag{ id = "file_sensor_example_lua" }
local wait = d:task{ id = "wait", op = "file_sensor", path = "/tmp/pipehost-drop/*.csv",
  min_size = 1, poke_interval = 2, timeout = "10m", mode = "reschedule" }
local count = d:task{ id = "count", op = "lua", fn = function(ctx)
  local n = 0
  for _ in io.lines(ctx.xcom_pull("wait")[1]) do n = n + 1 end
  return n
end }
wait >> count
return d
