-- The same as examples/http.yaml, in Lua (see there for how to run it).
local ph = require "pipehost"
local d = ph.dag{ id = "http_example_lua", default_args = { retries = 2, retry_delay = "1s" } }
local ready = d:task{ id = "ready", op = "http_sensor", conn_id = "api", endpoint = "/json",
  response_check = "response.json.state == 'done'",
  poke_interval = 5, timeout = "10m", mode = "reschedule" }
local fetch = d:task{ id = "fetch", op = "http", conn_id = "api", endpoint = "/json",
  response_filter = "response.json.items" }
local post = d:task{ id = "post", op = "http", conn_id = "api", method = "POST", endpoint = "/echo",
  headers = { ["X-Run-Id"] = "{{ run_id }}" },
  json = { day = "{{ ds }}", first_item = "{{ xcom_pull('fetch')[1] }}" },
  response_filter = "response.json.json" }
local show = d:task{ id = "show", op = "lua", fn = function(ctx)
  local p = ctx.xcom_pull("post")
  ctx.log("posted for " .. p.day)
  return p.day
end }
ready >> fetch >> post >> show
return d
