-- pipehost.lua -- the Lua DAG DSL.
--
--   local ph = require "pipehost"
--   local d = ph.dag{ id = "etl", default_args = { retries = 1 }, params = { n = 3 } }
--   local a = d:task{ id = "a", op = "bash", command = "echo 1" }
--   local b = d:task{ "b", op = "lua", fn = function(ctx) return ctx.xcom_pull("a") end }
--   a >> b             -- b runs after a; returns b, so a >> b >> c chains
--   a >> { b, c }      -- fan out; {a, b} >> c fans in; c << a is a >> c
--   return d           -- optional
--
-- The host reads the DAG this module records (M._dags); functions given
-- as task arguments are kept in M.callables["<task>.<key>"] for the lua,
-- branch and short_circuit operators, which run this file again in their
-- worker to find them.
local M = { callables = {}, _dags = {} }

local Dag, Task, List, Group = {}, {}, {}, {}
Dag.__index, Task.__index, List.__index, Group.__index = Dag, Task, List, Group

local function caller_line(level)
  local info = debug.getinfo(level + 1, "l")
  return info and info.currentline or 0
end

-- a task group stands in dependencies for its leaves or roots (the host
-- resolves them), so it is a "task" here
local function is_task(x)
  local mt = getmetatable(x)
  return mt == Task or mt == Group
end
local function is_list(x) return getmetatable(x) == List end

-- The tasks a dependency operand stands for.
local function tasks_of(x)
  if is_task(x) then return { x } end
  if is_list(x) then return x.items end
  if type(x) == "table" then
    local out = {}
    for i, v in ipairs(x) do
      if not is_task(v) then
        error(("item %d of a dependency list is a %s, not a task"):format(i, type(v)), 4)
      end
      out[#out + 1] = v
    end
    return out
  end
  if x == nil then
    error("cannot make a dependency on nil: an undefined variable or a misspelt task name?", 4)
  end
  error(("cannot make a dependency on a %s; use a task or a list of tasks"):format(type(x)), 4)
end

local function link(ups, downs, line)
  for _, a in ipairs(tasks_of(ups)) do
    for _, b in ipairs(tasks_of(downs)) do
      local edges = a.dag._edges
      edges[#edges + 1] = { a.id, b.id, line }
    end
  end
end

-- The value of "x >> y" (and "y << x"): y, as a task or a list, so
-- expressions chain.
local function result(y)
  if is_task(y) or is_list(y) then return y end
  return setmetatable({ items = tasks_of(y) }, List)
end

local function shr(x, y)
  link(x, y, caller_line(2))
  return result(y)
end

local function shl(x, y)
  link(y, x, caller_line(2))
  return result(y)
end

Task.__shr, Task.__shl = shr, shl
List.__shr, List.__shl = shr, shl
Task.__tostring = function(t) return "task " .. t.id end

-- Creates the DAG of this file.
function M.dag(args)
  if type(args) ~= "table" then
    error("pipehost.dag{...} takes a table, e.g. pipehost.dag{ id = \"etl\" }", 2)
  end
  local id = args.id or args[1]
  if type(id) ~= "string" or id == "" then
    error("pipehost.dag{...} needs an id: pipehost.dag{ id = \"NAME\" }", 2)
  end
  local d = setmetatable({ id = id, line = caller_line(2), args = {},
                           default_args = args.default_args or {},
                           _tasks = {}, _edges = {}, _groups = {} }, Dag)
  for k, v in pairs(args) do
    if k ~= "id" and k ~= 1 and k ~= "default_args" then d.args[k] = v end
  end
  M._dags[#M._dags + 1] = d
  return d
end

-- Dynamic task mapping: a task (or {from = task, key = "k"}) stands for
-- that upstream's XCom, as {from = "ID"} does in YAML.
local function map_ref(v)
  if is_task(v) then return { from = v.id } end
  if type(v) == "table" and is_task(v.from) then
    return { from = v.from.id, key = v.key }
  end
  return v
end

local function map_arg(k, v)
  if k == "expand_kwargs" or type(v) ~= "table" or is_task(v) then
    return map_ref(v)
  end
  local e = {}
  for name, x in pairs(v) do e[name] = map_ref(x) end
  return e
end

-- t:expand{ x = {1, 2, 3}, y = other_task }: one instance per item (a
-- cartesian product over several params), as Airflow's .expand().
function Task:expand(kw)
  self.args.expand = map_arg("expand", kw)
  return self
end

-- t:expand_kwargs(other_task) or t:expand_kwargs{ {x = 1}, {x = 2} }.
function Task:expand_kwargs(v)
  self.args.expand_kwargs = map_arg("expand_kwargs", v)
  return self
end

-- A task group (Airflow's TaskGroup): local g = d:group{ "prep",
-- default_args = { retries = 2 } }; g:task{ id = "clean", ... } is task
-- "prep.clean"; g:group{ "inner" } nests; a >> g and g >> b depend on the
-- group's roots and leaves.
local function new_group(dag, parent, args, level)
  if type(args) ~= "table" then
    error("group{...} takes a table, e.g. d:group{ id = \"prep\" }", level + 1)
  end
  local name = args.id or args[1]
  if type(name) ~= "string" or name == "" then
    error("group{...} needs an id: d:group{ id = \"NAME\" }", level + 1)
  end
  local id = parent and (parent.id .. "." .. name) or name
  local g = setmetatable({ id = id, dag = dag, parent = parent }, Group)
  dag._groups[#dag._groups + 1] = { id = id, parent = parent and parent.id,
                                    default_args = args.default_args or {},
                                    line = caller_line(level + 1) }
  return g
end

function Dag:group(args) return new_group(self, nil, args, 2) end
function Group:group(args) return new_group(self.dag, self, args, 2) end
Group.__shr, Group.__shl = shr, shl
Group.__tostring = function(g) return "group " .. g.id end

-- g:task{ id = "clean", ... }: a task of the group, id "GROUP.clean".
function Group:task(args)
  if type(args) ~= "table" then
    error("g:task{...} takes a table, e.g. g:task{ id = \"x\", op = \"bash\" }", 2)
  end
  local local_id = args.id or args[1]
  if type(local_id) ~= "string" or local_id == "" then
    error("g:task{...} needs an id: g:task{ id = \"NAME\", op = ... }", 2)
  end
  local copy = {}
  for k, v in pairs(args) do copy[k] = v end
  copy[1], copy.id = nil, self.id .. "." .. local_id
  local t = self.dag:task(copy, 3, self.id)
  t.group = self.id
  return t
end

-- Adds a task: d:task{ id = "x", op = "bash", command = "..." }.
function Dag:task(args, level, scope)
  level = level or 2
  if type(args) ~= "table" then
    error("d:task{...} takes a table, e.g. d:task{ id = \"x\", op = \"bash\" }", level)
  end
  local id = args.id or args[1]
  if type(id) ~= "string" or id == "" then
    error("d:task{...} needs an id: d:task{ id = \"NAME\", op = ... }", level)
  end
  local line = caller_line(level)
  local t = setmetatable({ id = id, op = args.op, line = line, args = {},
                           dag = self }, Task)
  for k, v in pairs(args) do
    if k == "upstream" then
      local ups = type(v) == "table" and not is_task(v) and v or { v }
      for _, u in ipairs(ups) do
        local uid = is_task(u) and u.id or u
        if type(uid) ~= "string" then
          error(("task '%s': upstream entries must be task ids or tasks"):format(id), level)
        end
        -- a name given in a group means a task of that group first
        self._edges[#self._edges + 1] = { uid, id, line, not is_task(u) and scope or nil }
      end
    elseif k == "expand" or k == "expand_kwargs" then
      t.args[k] = map_arg(k, v)
    elseif k ~= "id" and k ~= 1 and k ~= "op" then
      if type(v) == "function" then
        local ref = id .. "." .. k
        M.callables[ref] = v
        v = { ["$lua"] = ref }
      end
      t.args[k] = v
    end
  end
  self._tasks[#self._tasks + 1] = t
  return t
end

-- Lua accepts only calls and assignments as statements, so a line such as
-- "a >> b" is turned into "_ = a >> b" (on the same line, so line numbers
-- stay exact) before the file runs.
local keywords = { ["local"] = true, ["return"] = true, ["if"] = true,
  ["for"] = true, ["while"] = true, ["repeat"] = true, ["until"] = true,
  ["function"] = true, ["end"] = true, ["else"] = true, ["elseif"] = true,
  ["do"] = true, ["then"] = true, ["goto"] = true, ["break"] = true }

local function is_dependency_line(line)
  local code = line:gsub("%-%-.*$", "")
  code = code:gsub('"[^"]*"', '""'):gsub("'[^']*'", "''")
  local first = code:match("^%s*([%a_][%w_]*)")
  if first and keywords[first] then return false end
  if not code:match("^%s*[%a_{(]") then return false end
  if not (code:find(">>", 1, true) or code:find("<<", 1, true)) then return false end
  -- an assignment already makes it a statement
  local masked = code:gsub("==", "  "):gsub("~=", "  "):gsub("<=", "  "):gsub(">=", "  ")
  return not masked:find("=", 1, true)
end

function M.rewrite(source)
  local out, long = {}, false
  for line in (source .. "\n"):gmatch("(.-)\r?\n") do
    -- leave long strings and comments alone
    if not long and is_dependency_line(line) then line = "_ = " .. line end
    if line:find("[[", 1, true) or line:find("[=", 1, true) then long = true end
    if line:find("]]", 1, true) or line:find("=]", 1, true) then long = false end
    out[#out + 1] = line
  end
  return table.concat(out, "\n")
end

-- Runs a DAG file (after rewrite) and returns what it returned.  While it
-- runs, M.file is the file's absolute path and M.dir its directory, so a
-- DAG can name files next to it: M.dir .. "/data/x.csv".
function M.run_file(path, abs)
  M.file = abs or path
  M.dir = M.file:match("^(.*)/[^/]*$") or "."
  local f, err = io.open(path, "rb")
  if not f then error(err, 0) end
  local source = f:read("a")
  f:close()
  local chunk, perr = load(M.rewrite(source), "@" .. path, "t")
  if not chunk then error(perr, 0) end
  return chunk()
end

return M
