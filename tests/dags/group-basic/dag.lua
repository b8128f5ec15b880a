-- a task group: ids prefixed 'group.', default_args per group (nested groups inherit), names inside a group mean its members, a group as upstream means its leaves and as downstream its roots
local ph = require "pipehost"
local d = ph.dag{ id = "group_basic", default_args = { retry_delay = 0 } }
local extract = d:task{ id = "extract", op = "bash", command = "echo e" }
local prep = d:group{ "prep", default_args = { retries = 2 } }
local clean = prep:task{ id = "clean", op = "bash", command = "echo c" }
local split = prep:task{ id = "split", op = "bash",
                         command = '[ "$PIPEHOST_TRY_NUMBER" -ge 3 ] && echo split',
                         upstream = { "clean" } }
prep:task{ id = "side", op = "bash", command = "exit 1", retries = 0,
           trigger_rule = "all_done" }
local feat = prep:group{ "feat" }
local count = feat:task{ id = "count", op = "bash",
                         command = '[ "$PIPEHOST_TRY_NUMBER" -ge 2 ] && echo 3' }
local report = d:task{ id = "report", op = "lua", fn = function(ctx)
  return ctx.xcom_pull({ "prep.split", "prep.feat.count", "prep.side" }) end }
split >> feat
extract >> prep >> report
