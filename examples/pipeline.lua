-- examples/pipeline.lua -- a small end-to-end data pipeline:
--   ingest -> features -> train (two models in parallel) -> evaluate
--   -> branch (promote or keep) -> predict -> notify
-- Everything runs with the bash and lua operators on the embedded SQLite
-- metadata store.  Run: pipehost run examples/pipeline.lua
-- (or bash examples/run_demo.sh).  Outputs go to $PIPEHOST_HOME/demo/.
local ph = require "pipehost"

local d = ph.dag{
  id = "pipeline",
  default_args = { retries = 1, retry_delay = 0 },
  params = { rows = 2000, threshold = 0.70 },
}

-- 1. ingest: a deterministic synthetic dataset (x1, x2, label)
local ingest = d:task{ id = "ingest", op = "bash", command = [[
set -e
out="${PIPEHOST_HOME:-$HOME/.pipehost}/demo/$PIPEHOST_RUN_ID"
mkdir -p "$out"
awk -v n={{ params.rows }} 'BEGIN { srand(42); print "x1,x2,label";
  for (i = 0; i < n; i++) { a = rand(); b = rand();
    y = (a + 0.5 * b + 0.1 * (rand() - 0.5) > 0.75) ? 1 : 0;
    printf "%.4f,%.4f,%d\n", a, b, y } }' > "$out/raw.csv"
echo "$out"
]] }

-- 2. features: a derived column, and a row count pushed as XCom
local features = d:task{ id = "features", op = "bash", command = [[
set -e
dir={{ xcom_pull('ingest') | shell_quote }}
awk -F, 'NR == 1 { print $0 ",x1x2"; next } { printf "%s,%.4f\n", $0, $1 * $2 }' \
  "$dir/raw.csv" > "$dir/features.csv"
tail -n +2 "$dir/features.csv" | wc -l
]] }

-- 3. two "models" trained in parallel: a threshold on x1, and on x1 + x2/2
local function trainer(weight)
  return function(ctx)
    local dir = ctx.xcom_pull("ingest")
    local best, best_acc = 0, 0
    for t = 0.30, 1.20, 0.01 do
      local ok, n = 0, 0
      for line in io.lines(dir .. "/features.csv") do
        local a, b, y = line:match("^([%d.]+),([%d.]+),(%d)")
        if a then
          local score = tonumber(a) + weight * tonumber(b)
          local pred = score > t and 1 or 0
          if pred == tonumber(y) then ok = ok + 1 end
          n = n + 1
        end
      end
      if ok / n > best_acc then best, best_acc = t, ok / n end
    end
    ctx.log(string.format("weight %.1f: threshold %.2f accuracy %.4f", weight, best, best_acc))
    return { weight = weight, threshold = best, accuracy = best_acc }
  end
end
local train_simple = d:task{ id = "train_simple", op = "lua", fn = trainer(0.0) }
local train_combined = d:task{ id = "train_combined", op = "lua", fn = trainer(0.5) }

-- 4. evaluate: pick the better model
local evaluate = d:task{ id = "evaluate", op = "lua", fn = function(ctx)
  local a, b = table.unpack(ctx.xcom_pull({ "train_simple", "train_combined" }))
  local best = (b.accuracy > a.accuracy) and b or a
  ctx.log(string.format("best model: weight %.1f accuracy %.4f", best.weight, best.accuracy))
  return best
end }

-- 5. branch: promote only a model that clears the bar
local decide = d:task{ id = "decide", op = "branch", fn = function(ctx)
  local best = ctx.xcom_pull("evaluate")
  if best.accuracy >= ctx.params.threshold then return "promote" end
  return "keep_current"
end }
local promote = d:task{ id = "promote", op = "bash", command = [[
echo promoted model with accuracy {{ xcom_pull('evaluate').accuracy }}
]] }
local keep = d:task{ id = "keep_current", op = "bash", command = "echo keeping the current model" }

-- 6. predict with the chosen model (runs whichever branch was taken)
local predict = d:task{ id = "predict", op = "lua",
  trigger_rule = "none_failed_min_one_success",
  fn = function(ctx)
    local m = ctx.xcom_pull("evaluate")
    local dir = ctx.xcom_pull("ingest")
    local out = io.open(dir .. "/predictions.csv", "w")
    out:write("x1,x2,prediction\n")
    local positives, n = 0, 0
    for line in io.lines(dir .. "/features.csv") do
      local a, b = line:match("^([%d.]+),([%d.]+),")
      if a then
        local p = (tonumber(a) + m.weight * tonumber(b) > m.threshold) and 1 or 0
        out:write(string.format("%s,%s,%d\n", a, b, p))
        positives, n = positives + p, n + 1
      end
    end
    out:close()
    return { rows = n, positives = positives, file = dir .. "/predictions.csv" }
  end }

-- 7. notify: a report file (the email operator can replace this)
local notify = d:task{ id = "notify", op = "bash", command = [[
dir={{ xcom_pull('ingest') | shell_quote }}
cat > "$dir/report.txt" <<REPORT
pipeline run {{ run_id }} ({{ ds }})
rows: {{ xcom_pull('features') }}
model: {{ xcom_pull('evaluate') | json }}
predictions: {{ xcom_pull('predict') | json }}
REPORT
cat "$dir/report.txt"
echo "$dir/report.txt"
]] }

ingest >> features >> { train_simple, train_combined } >> evaluate >> decide
decide >> { promote, keep }
{ promote, keep } >> predict >> notify
return d
