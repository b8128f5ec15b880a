-- The same as sql_sqlite.yaml, in Lua:
--   PIPEHOST_CONN_DEMO_DB=sqlite:///tmp/pipehost-demo.db pipehost run examples/sql_sqlite.lua
local ph = require "pipehost"
local d = ph.dag{ id = "sql_sqlite_lua" }
local schema = d:task{ id = "schema", op = "sql", conn_id = "demo_db",
  sql = { "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer TEXT, amount REAL, day TEXT)",
          "DELETE FROM orders WHERE day = :day" },
  parameters = { day = "{{ ds }}" } }
local load = d:task{ id = "load", op = "sql", conn_id = "demo_db",
  sql = "INSERT INTO orders (customer, amount, day) VALUES (?, ?, ?), (?, ?, ?)",
  parameters = { "ada", 12.5, "{{ ds }}", "O'Brien; DROP TABLE orders", 7, "{{ ds }}" } }
local ready = d:task{ id = "ready", op = "sql_sensor", conn_id = "demo_db",
  sql = "SELECT count(*) >= 2 FROM orders WHERE day = :day",
  parameters = { day = "{{ ds }}" }, poke_interval = 1, timeout = 30 }
local totals = d:task{ id = "totals", op = "sql", conn_id = "demo_db",
  sql = "SELECT customer, sum(amount) AS total FROM orders WHERE day = ? GROUP BY customer ORDER BY customer",
  parameters = { "{{ ds }}" } }
local report = d:task{ id = "report", op = "lua", fn = function(ctx)
  for _, row in ipairs(ctx.xcom_pull("totals")) do
    ctx.log(string.format("%s: %.2f", row.customer, row.total))
  end
  return #ctx.xcom_pull("totals")
end }
schema >> load >> ready >> totals >> report
return d
