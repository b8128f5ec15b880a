-- each instance has its own tries: only the failing one is retried
local ph = require "pipehost"
local d = ph.dag{ id = "map_retries" }
local m = d:task{ id = "m", op = "bash", retries = 2, retry_delay = 0, expand = { command = { "true", "[ \"$PIPEHOST_TRY_NUMBER\" -ge 2 ]", "[ \"$PIPEHOST_MAP_INDEX\" = 2 ]" } } }
local after = d:task{ id = "after", op = "bash", command = "true" }
m >> after
return d
