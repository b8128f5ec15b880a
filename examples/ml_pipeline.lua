-- examples/ml_pipeline.lua -- the ML pipeline a data team runs every day:
--
--   wait_for_data -> build_training_set -> train_xgboost  \
--                                       -> train_logreg    -> choose_model
--   choose_model -> promote_xgboost | promote_logreg -> predict -> report
--
-- A file sensor waits for the day's data drop; feature_fetch builds the
-- training set point-in-time (each diagnosis gets the measurement taken
-- before it, never a later one); XGBoost and logistic regression train in
-- parallel and are registered as versions of model "breast_cancer"; a
-- branch takes the better one and model_promote moves the "production"
-- alias to it only if it beats the current production model; predict
-- scores the new patients with breast_cancer@production; report writes a
-- summary, and email sends it (with the predictions attached) when an SMTP
-- connection is set (PIPEHOST_CONN_SMTP_DEFAULT=smtp://...; params.report_to
-- is the recipient).  examples/data/README.md says where the data comes from.
--
-- Run: bash examples/run_demo.sh   (or: pipehost run examples/ml_pipeline.lua)
-- Run it twice: the second run is all cache hits (cache = true).
-- Then: pipehost experiments compare; pipehost models list;
--       pipehost lineage last predict
local ph = require "pipehost"
local data = ph.dir .. "/data"

local d = ph.dag{ id = "ml_pipeline",
  default_args = { retries = 1, retry_delay = 0 },
  params = { report_to = "ml-team@example.com" } }

local wait = d:task{ id = "wait_for_data", op = "file_sensor",
  path = data .. "/incoming/new_patients.csv", min_size = 1,
  poke_interval = 2, timeout = 600, mode = "reschedule" }

local features = d:task{ id = "build_training_set", op = "feature_fetch",
  cache = true,
  entities = data .. "/labels.csv",
  feature_views = { {
    name = "measurements", path = data .. "/measurements.csv",
    join_keys = { "patient_id" }, timestamp_column = "event_timestamp",
    ttl = "365d" } } }

local function trainer(id, algorithm, hyper)
  return d:task{ id = id, op = "train", cache = true, algorithm = algorithm,
    input = "{{ xcom_pull('build_training_set') }}",
    target = "diagnosis", exclude = { "patient_id", "event_timestamp" },
    hyperparameters = hyper, register = "breast_cancer" }
end
local xgb = trainer("train_xgboost", "xgboost", { max_depth = 3, eta = 0.3 })
local logreg = trainer("train_logreg", "logistic_regression", { C = 1.0 })

local choose = d:task{ id = "choose_model", op = "branch", fn = function(ctx)
  local a = ctx.xcom_pull("train_xgboost").metrics
  local b = ctx.xcom_pull("train_logreg").metrics
  ctx.log(string.format("f1: xgboost %.4f, logistic regression %.4f", a.f1, b.f1))
  return a.f1 >= b.f1 and "promote_xgboost" or "promote_logreg"
end }

local px = d:task{ id = "promote_xgboost", op = "model_promote",
  candidate = "{{ xcom_pull('train_xgboost') }}", metric = "f1" }
local pl = d:task{ id = "promote_logreg", op = "model_promote",
  candidate = "{{ xcom_pull('train_logreg') }}", metric = "f1" }

local predict = d:task{ id = "predict", op = "predict", cache = true,
  trigger_rule = "none_failed_min_one_success",
  model = "breast_cancer@production",
  input = "{{ xcom_pull('wait_for_data')[1] }}" }

local report = d:task{ id = "report", op = "lua", fn = function(ctx)
  local p = ctx.xcom_pull("predict")
  local dir = p.output:match("^(.*)/")
  local lines = { "# ml_pipeline " .. ctx.run_id, "" }
  for _, id in ipairs({ "train_xgboost", "train_logreg" }) do
    local r = ctx.xcom_pull(id)
    local m = r.metrics
    lines[#lines + 1] = string.format(
      "%-16s v%d  accuracy %.4f  f1 %.4f  roc_auc %.4f  log_loss %.4f",
      r.algorithm, r.version, m.accuracy, m.f1, m.roc_auc, m.log_loss)
  end
  local promo = ctx.xcom_pull("promote_xgboost") or ctx.xcom_pull("promote_logreg")
  local why = ctx.xcom_pull("promote_xgboost", "decision") or
    ctx.xcom_pull("promote_logreg", "decision")
  lines[#lines + 1] = ""
  lines[#lines + 1] = string.format("production: breast_cancer v%d (%s)",
    promo.version, why.reason)
  local counts = {}
  for label, n in pairs(p.class_counts) do
    counts[#counts + 1] = string.format("%s: %d", label == "1" and "benign" or "malignant", n)
  end
  table.sort(counts)
  lines[#lines + 1] = string.format("scored %d new patients with v%d: %s",
    p.rows, p.version, table.concat(counts, ", "))
  lines[#lines + 1] = "predictions: " .. p.output
  local text = table.concat(lines, "\n") .. "\n"
  local f = io.open(dir .. "/report.txt", "w")
  f:write(text)
  f:close()
  ctx.log(text)
  ctx.xcom_push("text", text)
  return dir .. "/report.txt"
end }

-- email the report when there is an SMTP connection, else only the file
local notify = d:task{ id = "notify", op = "branch", fn = function(ctx)
  if ctx.conn("smtp_default") then return "email_report" end
  return "report_file_only"
end }
local mail = d:task{ id = "email_report", op = "email",
  to = "{{ params.report_to }}",
  subject = "ml_pipeline {{ ds }}: breast_cancer v{{ xcom_pull('predict').version }} scored {{ xcom_pull('predict').rows }} patients",
  body = "{{ xcom_pull('report', 'text') }}",
  files = "{{ xcom_pull('predict').output }}" }
local file_only = d:task{ id = "report_file_only", op = "empty" }

wait >> features >> { xgb, logreg } >> choose
choose >> { px, pl }
{ px, pl } >> predict >> report >> notify
notify >> { mail, file_only }
return d
