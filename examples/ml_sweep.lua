-- examples/ml_sweep.lua -- a hyperparameter sweep with 5-fold
-- cross-validation, with dynamic task mapping:
--
--   features -> train_xgb[30]    (6 XGBoost settings x 5 folds)     \
--            -> train_logreg[15] (3 logistic regressions x 5 folds)  -> rank
--   rank -> retrain[1] (the winner, on all the folds' data; promoted to
--                       breast_cancer_sweep@production if it beats it)
--
-- Each train instance is one fold of one configuration (validation_fold
-- picks the fold: row i validates when i % 5 == fold).  rank is the
-- reduce step: it gets every instance's result in map_index order, ranks
-- the configurations by the mean and standard deviation of their F1 over
-- the folds, and runs a paired t-test between the two best (the folds are
-- the pairs).  retrain maps over the one-item list rank pushes
-- (expand_kwargs), so the winner's algorithm and settings reach it as
-- params.
--
-- Run: pipehost run examples/ml_sweep.lua
-- Run it again: every task is a cache hit.  Add a grid point (say C = 100
-- to logreg_grid): only its 5 folds train.  Then:
--   pipehost experiments compare        the 45 tries side by side
--   pipehost xcom list last             the ranking and the test
--   pipehost graph examples/ml_sweep.lua
local ph = require "pipehost"
local data = ph.dir .. "/data"

local folds = { 0, 1, 2, 3, 4 }
local xgb_grid = {
  { max_depth = 2, eta = 0.1 }, { max_depth = 2, eta = 0.3 },
  { max_depth = 3, eta = 0.1 }, { max_depth = 3, eta = 0.3 },
  { max_depth = 5, eta = 0.1 }, { max_depth = 5, eta = 0.3 } }
local logreg_grid = { { C = 0.1 }, { C = 1.0 }, { C = 10.0 } }

local d = ph.dag{ id = "ml_sweep",
  default_args = { retries = 1, retry_delay = 0, cache = true } }

local features = d:task{ id = "features", op = "feature_fetch",
  entities = data .. "/labels.csv",
  feature_views = { {
    name = "measurements", path = data .. "/measurements.csv",
    join_keys = { "patient_id" }, timestamp_column = "event_timestamp",
    ttl = "365d" } } }

-- one mapped train task per algorithm: settings x folds (a cartesian
-- product; a Lua table has no order, so its keys go alphabetically:
-- hyperparameters outermost, the 5 folds of a setting side by side)
local function sweep(id, algorithm, grid)
  local t = d:task{ id = id, op = "train", algorithm = algorithm,
    input = "{{ xcom_pull('features') }}", target = "diagnosis",
    exclude = { "patient_id", "event_timestamp" }, validation_every = 5 }
  t:expand{ validation_fold = folds, hyperparameters = grid }
  features >> t
  return t
end
local train_xgb = sweep("train_xgb", "xgboost", xgb_grid)
local train_logreg = sweep("train_logreg", "logistic_regression", logreg_grid)

-- Student's t distribution: the two-sided p-value of t with df degrees of
-- freedom, exact for whole df (Abramowitz & Stegun 26.7.3, 26.7.4)
local function t_two_sided(t, df)
  local th = math.atan(math.abs(t) / math.sqrt(df))
  local s, c2 = math.sin(th), math.cos(th) ^ 2
  local a
  if df % 2 == 0 then
    local term, sum = 1, 1
    for k = 1, df / 2 - 1 do term = term * c2 * (2 * k - 1) / (2 * k); sum = sum + term end
    a = s * sum
  else
    local term, sum = 1, df > 1 and 1 or 0
    for k = 1, (df - 3) / 2 do term = term * c2 * (2 * k) / (2 * k + 1); sum = sum + term end
    a = 2 / math.pi * (th + s * math.cos(th) * sum)
  end
  return 1 - a
end

local function mean_sd(xs)
  local n, m, v = #xs, 0, 0
  for _, x in ipairs(xs) do m = m + x / n end
  for _, x in ipairs(xs) do v = v + (x - m) ^ 2 / (n - 1) end
  return m, math.sqrt(v)
end

local rank = d:task{ id = "rank", op = "lua", fn = function(ctx)
  local configs, order = {}, {}
  for _, id in ipairs({ "train_xgb", "train_logreg" }) do
    for _, r in ipairs(ctx.xcom_pull(id)) do
      local key = r.algorithm .. " " .. json.encode(r.hyperparameters)
      if not configs[key] then
        configs[key] = { config = key, algorithm = r.algorithm,
                         hyperparameters = r.hyperparameters, f1 = {} }
        order[#order + 1] = configs[key]
      end
      configs[key].f1[r.validation_fold + 1] = r.metrics.f1
    end
  end
  for _, c in ipairs(order) do c.mean, c.sd = mean_sd(c.f1) end
  table.sort(order, function(a, b) return a.mean > b.mean end)
  local best, second = order[1], order[2]
  local diff = {}
  for i = 1, #best.f1 do diff[i] = best.f1[i] - second.f1[i] end
  local md, sdd = mean_sd(diff)
  local t = sdd > 0 and md / (sdd / math.sqrt(#diff)) or (md > 0 and math.huge or 0)
  local p = sdd > 0 and t_two_sided(t, #diff - 1) or (md > 0 and 0 or 1)
  for i, c in ipairs(order) do
    ctx.log(string.format("%2d. %-45s F1 %.4f +- %.4f", i, c.config, c.mean, c.sd))
  end
  ctx.log(string.format("paired t-test, %s vs %s over %d folds: t = %.3f, p = %.4f",
    best.config, second.config, #diff, t, p))
  ctx.xcom_push("winner_kwargs", { { algorithm = best.algorithm,
                                     hyperparameters = best.hyperparameters } })
  return { ranking = order, winner = best.config, runner_up = second.config,
           t = t ~= math.huge and t or nil, p_value = p,
           significant = p < 0.05 }
end }
{ train_xgb, train_logreg } >> rank

-- the winner, trained again and promoted if it beats production
local retrain = d:task{ id = "retrain", op = "train",
  input = "{{ xcom_pull('features') }}", target = "diagnosis",
  exclude = { "patient_id", "event_timestamp" }, validation_every = 5,
  register = "breast_cancer_sweep", promote_if_better = { metric = "f1" } }
retrain:expand_kwargs{ from = rank, key = "winner_kwargs" }
return d
