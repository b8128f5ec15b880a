-- xcom_pull in a template and shell_quote of a value with a quote
local ph = require "pipehost"
local d = ph.dag{ id = "templates_xcom_shell_quote" }
local a = d:task{ id = "a", op = "lua", fn = function() return "it's" end }
local b = d:task{ id = "b", op = "bash", command = "test {{ xcom_pull('a') | shell_quote }} = \"it's\" && echo {{ xcom_pull('a') | upper | shell_quote }}" }
a >> b
return d
