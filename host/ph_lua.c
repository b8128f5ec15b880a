/* ph_lua -- the Lua DAG loader.  See ph_lua.h.
 *
 * Runs the DAG file in a fresh Lua state with the DSL (lua/pipehost.lua)
 * on package.path, under a memory limit (a counting allocator) and a time
 * limit (an instruction-count hook that checks the clock), then reads the
 * DAG the DSL recorded (package.loaded.pipehost._dags) into a ph_dag.
 *
 * Once the time limit has passed, pcall, xpcall and coroutine.resume
 * re-raise the timeout, so a file cannot catch it and go on looping.  The
 * model is read inside a protected call with raw table accesses: a file
 * that tampers with the DSL's records gets an error, never a crash. */
#include "ph_lua.h"

#include <lauxlib.h>
#include <lualib.h>
#include <string.h>

#include "ph_luajson.h"
#include "ph_util.h"

#define DEFAULT_MEM (256u << 20)
#define DEFAULT_SECONDS 10.0
#define HOOK_COUNT 10000

static size_t g_mem_limit = DEFAULT_MEM;
static double g_time_limit = DEFAULT_SECONDS;

void ph_lua_set_limits(size_t mem_bytes, double seconds) {
  g_mem_limit = mem_bytes ? mem_bytes : DEFAULT_MEM;
  g_time_limit = seconds > 0 ? seconds : DEFAULT_SECONDS;
}

/* One load.  mem is first: the allocator's ud is this struct. */
typedef struct {
  ph_lua_limits mem;
  int timed_out;
  const char *file;
  int err_line; /* innermost line in the DAG file when an error was raised */
} load_state;

static load_state *state_of(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return ud;
}

static int raise_timeout(lua_State *L) {
  return luaL_error(L, "did not finish loading in time");
}

static void time_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  load_state *s = state_of(L);
  if (!s->timed_out && ph_util_mono() <= s->mem.deadline)
    return;
  s->timed_out = 1;
  raise_timeout(L);
}

/* pcall, xpcall and coroutine.resume, wrapped: after the deadline their
 * result is replaced by the timeout error. */
static int guarded_k(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  (void)ctx;
  if (state_of(L)->timed_out)
    return raise_timeout(L);
  return lua_gettop(L);
}

static int guarded(lua_State *L) {
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_callk(L, lua_gettop(L) - 1, LUA_MULTRET, 0, guarded_k);
  return guarded_k(L, LUA_OK, 0);
}

static void guard(lua_State *L, int table_idx, const char *name) {
  table_idx = lua_absindex(L, table_idx);
  lua_getfield(L, table_idx, name);
  lua_pushcclosure(L, guarded, 1);
  lua_setfield(L, table_idx, name);
}

/* Message handler: remembers the innermost line of the DAG file. */
static int msgh(lua_State *L) {
  load_state *s = state_of(L);
  lua_Debug ar;
  for (int lvl = 0; lua_getstack(L, lvl, &ar); lvl++) {
    if (!lua_getinfo(L, "Sl", &ar) || ar.currentline <= 0 || !ar.source)
      continue;
    if (ar.source[0] == '@' && !strcmp(ar.source + 1, s->file)) {
      s->err_line = ar.currentline;
      break;
    }
  }
  return 1;
}

/* ---- reading the DSL's records (inside a protected call) */

/* Pushes t[k] without metamethods; t at idx must be a table. */
static int rawfield(lua_State *L, int idx, const char *k) {
  idx = lua_absindex(L, idx);
  lua_pushstring(L, k);
  return lua_rawget(L, idx);
}

static int int_field(lua_State *L, int idx, const char *k) {
  rawfield(L, idx, k);
  int v = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
  lua_pop(L, 1);
  return v;
}

/* Converts the members of the table at idx into to; lines are recorded
 * as "<prefix><key>". */
static void read_table_into(lua_State *L, ph_dag *d, int idx, JsonObject *to,
                            const char *prefix, int line) {
  idx = lua_absindex(L, idx);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -2);
      GError *err = NULL;
      JsonNode *v = ph_luajson_to_node(L, -1, TRUE, &err);
      if (v) {
        json_object_set_member(to, k, v);
        char *lk = g_strconcat(prefix, k, NULL);
        ph_dag_set_arg_line(d, lk, line);
        g_free(lk);
      } else {
        ph_dag_add_error(d, line, 0, "DAG argument '%s%s': %s", prefix, k,
                         err->message);
        g_error_free(err);
      }
    }
    lua_pop(L, 1);
  }
}

static void read_task(lua_State *L, ph_dag *d, int idx) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx)) {
    ph_dag_add_error(d, 0, 0, "the DSL's task list was modified");
    return;
  }
  int line = int_field(L, idx, "line");
  if (rawfield(L, idx, "id") != LUA_TSTRING) {
    ph_dag_add_error(d, line, 0, "a task without a string id");
    lua_pop(L, 1);
    return;
  }
  const char *id = lua_tostring(L, -1); /* stays on the stack */
  ph_dag_task *t = ph_dag_add_task(d, id, line);
  if (!t)
    goto out;
  int op = rawfield(L, idx, "op");
  if (op == LUA_TSTRING)
    ph_dag_task_set_op(t, lua_tostring(L, -1), line);
  else if (op != LUA_TNIL)
    ph_dag_add_error(d, line, 0, "task '%s': op must be a string, not a %s",
                     id, lua_typename(L, op));
  else
    ph_dag_add_error(d, line, 0, "task '%s' has no 'op'", id);
  lua_pop(L, 1);
  if (rawfield(L, idx, "args") == LUA_TTABLE) {
    int a = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, a)) {
      if (lua_type(L, -2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, -2);
        GError *err = NULL;
        JsonNode *v = ph_luajson_to_node(L, -1, TRUE, &err);
        if (v) {
          ph_dag_task_set_arg(t, k, v, line);
        } else {
          ph_dag_add_error(d, line, 0, "task '%s': argument '%s': %s", id, k,
                           err->message);
          g_error_free(err);
        }
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
out:
  lua_pop(L, 1); /* id */
}

static void read_edges(lua_State *L, ph_dag *d, int dg) {
  if (rawfield(L, dg, "_edges") != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  lua_Integer ne = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= ne; i++) {
    if (lua_rawgeti(L, -1, i) == LUA_TTABLE) {
      lua_rawgeti(L, -1, 1);
      lua_rawgeti(L, -2, 2);
      lua_rawgeti(L, -3, 3);
      if (lua_type(L, -3) == LUA_TSTRING && lua_type(L, -2) == LUA_TSTRING)
        ph_dag_add_edge(d, lua_tostring(L, -3), lua_tostring(L, -2),
                        lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0);
      lua_pop(L, 3);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* lua_CFunction: reads package.loaded.pipehost._dags[1] into the ph_dag
 * given as light userdata. */
static int read_dag(lua_State *L) {
  ph_dag *d = lua_touserdata(L, 1);
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_Integer n = 0;
  if (rawfield(L, -1, "pipehost") == LUA_TTABLE &&
      rawfield(L, -1, "_dags") == LUA_TTABLE)
    n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0) {
    ph_dag_add_error(d, 0, 0, "no DAG defined (call pipehost.dag{...})");
    return 0;
  }
  int dags = lua_gettop(L);
  if (n > 1) {
    lua_rawgeti(L, dags, 2);
    ph_dag_add_error(d, lua_istable(L, -1) ? int_field(L, -1, "line") : 0, 0,
                     "a second DAG is defined here; a file holds exactly one "
                     "DAG");
    lua_pop(L, 1);
  }
  if (lua_rawgeti(L, dags, 1) != LUA_TTABLE)
    return luaL_error(L, "the DSL's DAG list was modified");
  int dg = lua_gettop(L);
  int line = int_field(L, dg, "line");
  if (rawfield(L, dg, "id") == LUA_TSTRING)
    ph_dag_set_id(d, lua_tostring(L, -1), line);
  lua_pop(L, 1);
  if (rawfield(L, dg, "args") == LUA_TTABLE)
    read_table_into(L, d, -1, ph_dag_get_args(d), "", line);
  lua_pop(L, 1);
  int t = rawfield(L, dg, "default_args");
  if (t == LUA_TTABLE)
    read_table_into(L, d, -1, ph_dag_get_default_args(d), "default_args.",
                    line);
  else if (t != LUA_TNIL)
    ph_dag_add_error(d, line, 0, "default_args must be a table, not a %s",
                     lua_typename(L, t));
  lua_pop(L, 1);
  if (rawfield(L, dg, "_tasks") == LUA_TTABLE) {
    lua_Integer nt = (lua_Integer)lua_rawlen(L, -1);
    for (lua_Integer i = 1; i <= nt; i++) {
      lua_rawgeti(L, -1, i);
      read_task(L, d, -1);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  read_edges(L, d, dg);
  return 0;
}

/* lua_CFunction: require "pipehost" and run_file(file). */
static int run_dag_file(lua_State *L) {
  const char *file = lua_touserdata(L, 1);
  lua_getglobal(L, "require");
  lua_pushstring(L, "pipehost");
  lua_call(L, 1, 1);
  if (!lua_istable(L, -1))
    return luaL_error(L, "the pipehost module is not a table");
  lua_getfield(L, -1, "run_file");
  lua_pushstring(L, file);
  lua_call(L, 1, 0);
  return 0;
}

/* Runs f(arg) protected with the message handler; returns the status and
 * leaves the error value on the stack on failure. */
static int pcall_with(lua_State *L, lua_CFunction f, void *arg) {
  lua_pushcfunction(L, msgh);
  int h = lua_gettop(L);
  lua_pushcfunction(L, f);
  lua_pushlightuserdata(L, arg);
  int rc = lua_pcall(L, 1, 0, h);
  lua_remove(L, h);
  return rc;
}

static void set_load_error(GError **error, lua_State *L, load_state *s,
                           int rc) {
  const char *file = s->file;
  if (s->timed_out) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: DAG file did not finish loading within %g s (an endless "
                "loop?)",
                file, g_time_limit);
    return;
  }
  int t = lua_type(L, -1);
  const char *msg = t == LUA_TSTRING || t == LUA_TNUMBER ? lua_tostring(L, -1)
                                                         : NULL;
  if (rc == LUA_ERRMEM ||
      (s->mem.over && msg && strstr(msg, "not enough memory"))) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                "%s: DAG file exceeded the memory limit of %zu MiB while "
                "loading",
                file, g_mem_limit >> 20);
    return;
  }
  g_autofree char *text =
      msg ? g_strdup(msg)
          : g_strdup_printf("an error was raised with a %s value instead of "
                            "a message",
                            lua_typename(L, t));
  size_t fl = strlen(file);
  if (!strncmp(text, file, fl) && text[fl] == ':')
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s", text);
  else if (s->err_line > 0)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s:%d: %s", file,
                s->err_line, text);
  else
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", file, text);
}

ph_dag *ph_lua_load(const char *file, const char *lua_dir, GError **error) {
  load_state s = {{0, g_mem_limit, 0, ph_util_mono() + g_time_limit},
                  0,
                  file,
                  0};
  ph_dag *d = NULL;
  lua_State *L = lua_newstate(ph_luajson_alloc, &s);
  if (!L) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                "%s: cannot create a Lua state", file);
    return NULL;
  }
  luaL_openlibs(L);
  lua_pushglobaltable(L);
  guard(L, -1, "pcall");
  guard(L, -1, "xpcall");
  lua_getfield(L, -1, "coroutine");
  guard(L, -1, "resume");
  lua_pop(L, 2);
  lua_sethook(L, time_hook, LUA_MASKCOUNT, HOOK_COUNT);
  g_autofree char *dir = g_path_get_dirname(file);
  g_autofree char *path =
      lua_dir && *lua_dir ? g_strdup_printf("%s/?.lua;%s/?.lua", lua_dir, dir)
                          : g_strdup_printf("%s/?.lua", dir);
  lua_getglobal(L, "package");
  lua_pushstring(L, path);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  /* the DSL runs the file: it accepts "a >> b" as a statement */
  int rc = pcall_with(L, run_dag_file, (void *)file);
  if (rc != LUA_OK) {
    set_load_error(error, L, &s, rc);
    goto out;
  }
  d = ph_dag_new(file, PH_DAG_LUA);
  rc = pcall_with(L, read_dag, d);
  if (rc != LUA_OK) {
    set_load_error(error, L, &s, rc);
    ph_dag_free(d);
    d = NULL;
  }
out:
  lua_close(L);
  return d;
}
