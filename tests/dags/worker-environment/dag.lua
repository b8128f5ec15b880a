-- a try sees the try's identity in its environment and nothing the host set for its launcher's own start (LD_BIND_NOW)
local ph = require "pipehost"
local d = ph.dag{ id = "worker_environment" }
local lua_env = d:task{ id = "lua_env", op = "lua", fn = function(ctx) return {bind = os.getenv("LD_BIND_NOW"), marker = os.getenv("PIPEHOST_LAUNCHER_BIND_NOW"), task = os.getenv("PIPEHOST_TASK_ID")} end }
local shell_env = d:task{ id = "shell_env", op = "bash", command = "echo ${LD_BIND_NOW:-unset} $PIPEHOST_TASK_ID" }
return d
