-- numbers in templates print as Jinja prints them: a float keeps ".0" (10 / 2 is 5.0), an int stays an int
local ph = require "pipehost"
local d = ph.dag{ id = "templates_numbers" }
local make = d:task{ id = "make", op = "lua", fn = "return {ratio = 10.0, half = 0.5, big = 1e20, count = 3}" }
local show = d:task{ id = "show", op = "bash", command = "echo {{ 10 / 2 }} {{ 7 // 2 }} {{ 0.1 }} {{ xcom_pull('make').ratio }} {{ xcom_pull('make').half }} {{ xcom_pull('make').big }} {{ xcom_pull('make').count }}" }
make >> show
return d
