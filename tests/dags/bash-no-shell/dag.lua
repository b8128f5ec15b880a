-- plain commands run without a shell (as make does) and behave the same: exit codes, skip code, stdout as return_value; builtins, quotes and expansions still go through bash
local ph = require "pipehost"
local d = ph.dag{ id = "bash_no_shell" }
local direct_ok = d:task{ id = "direct_ok", op = "bash", command = "true" }
local direct_out = d:task{ id = "direct_out", op = "bash", command = "expr 40 + 2" }
local direct_fail = d:task{ id = "direct_fail", op = "bash", command = "false" }
local direct_args = d:task{ id = "direct_args", op = "bash", command = "printenv PIPEHOST_TASK_ID" }
local builtin_skip = d:task{ id = "builtin_skip", op = "bash", command = "exit 99" }
local builtin_echo = d:task{ id = "builtin_echo", op = "bash", command = "echo -n builtin" }
local shell_expand = d:task{ id = "shell_expand", op = "bash", command = "echo $((6 * 7))" }
local spaces = d:task{ id = "spaces", op = "bash", command = "  expr   1   +   1  " }
return d
