-- trigger rule one_success against nine upstream mixes of success (s), failed (f), skipped (k) and upstream_failed (u) (AIRFLOW.md §1.2)
local ph = require "pipehost"
local d = ph.dag{ id = "tr_one_success" }
local s1 = d:task{ id = "s1", op = "bash", command = "true" }
local s2 = d:task{ id = "s2", op = "bash", command = "true" }
local f1 = d:task{ id = "f1", op = "bash", command = "exit 1" }
local f2 = d:task{ id = "f2", op = "bash", command = "exit 1" }
local k1 = d:task{ id = "k1", op = "bash", command = "sleep 0.3; exit 99" }
local k2 = d:task{ id = "k2", op = "bash", command = "sleep 0.3; exit 99" }
local u1 = d:task{ id = "u1", op = "bash", command = "true" }
local u2 = d:task{ id = "u2", op = "bash", command = "true" }
local t_ss = d:task{ id = "t_ss", op = "bash", trigger_rule = "one_success", command = "true" }
local t_sf = d:task{ id = "t_sf", op = "bash", trigger_rule = "one_success", command = "true" }
local t_sk = d:task{ id = "t_sk", op = "bash", trigger_rule = "one_success", command = "true" }
local t_kk = d:task{ id = "t_kk", op = "bash", trigger_rule = "one_success", command = "true" }
local t_ff = d:task{ id = "t_ff", op = "bash", trigger_rule = "one_success", command = "true" }
local t_su = d:task{ id = "t_su", op = "bash", trigger_rule = "one_success", command = "true" }
local t_fk = d:task{ id = "t_fk", op = "bash", trigger_rule = "one_success", command = "true" }
local t_uu = d:task{ id = "t_uu", op = "bash", trigger_rule = "one_success", command = "true" }
local t_ku = d:task{ id = "t_ku", op = "bash", trigger_rule = "one_success", command = "true" }
f1 >> u1
f2 >> u2
{ s1, s2 } >> t_ss
{ s1, f1 } >> t_sf
{ s1, k1 } >> t_sk
{ k1, k2 } >> t_kk
{ f1, f2 } >> t_ff
{ s1, u1 } >> t_su
{ f1, k1 } >> t_fk
{ u1, u2 } >> t_uu
{ k1, u1 } >> t_ku
return d
