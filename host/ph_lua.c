/* ph_lua -- the Lua DAG loader.  See ph_lua.h.
 *
 * Runs the DAG file in a fresh Lua state with the DSL (lua/pipehost.lua)
 * on package.path, under a memory limit (a counting allocator) and a time
 * limit (an instruction-count hook that checks the clock), then reads the
 * DAG the DSL recorded into a ph_dag. */
#include "ph_lua.h"

#include <lauxlib.h>
#include <lualib.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "ph_luajson.h"
#include "ph_util.h"

static size_t g_mem_limit = 256u << 20;
static double g_time_limit = 10.0;

void ph_lua_set_limits(size_t mem_bytes, double seconds) {
  g_mem_limit = mem_bytes ? mem_bytes : 256u << 20;
  g_time_limit = seconds > 0 ? seconds : 10.0;
}

static void time_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  ph_lua_limits *l;
  lua_getallocf(L, (void **)&l);
  if (ph_util_mono() > l->deadline)
    luaL_error(L, "did not finish loading within %d s (an endless loop?)",
               (int)(g_time_limit + 0.5));
}

/* line of a DSL record's "line" field */
static int field_int(lua_State *L, int idx, const char *k) {
  lua_getfield(L, idx, k);
  int v = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  return v;
}

static void read_task(lua_State *L, ph_dag *d, int idx) {
  idx = lua_absindex(L, idx);
  int line = field_int(L, idx, "line");
  lua_getfield(L, idx, "id");
  g_autofree char *id = g_strdup(lua_tostring(L, -1));
  lua_pop(L, 1);
  ph_dag_task *t = ph_dag_add_task(d, id, line);
  if (!t)
    return;
  lua_getfield(L, idx, "group");
  if (lua_type(L, -1) == LUA_TSTRING)
    ph_dag_task_set_group(t, lua_tostring(L, -1));
  lua_pop(L, 1);
  lua_getfield(L, idx, "op");
  if (lua_type(L, -1) == LUA_TSTRING)
    ph_dag_task_set_op(t, lua_tostring(L, -1), line);
  else if (!lua_isnil(L, -1))
    ph_dag_add_error(d, line, 0, "task '%s': op must be a string", id);
  else
    ph_dag_add_error(d, line, 0, "task '%s' has no 'op'", id);
  lua_pop(L, 1);
  lua_getfield(L, idx, "args");
  int a = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, a)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      lua_pop(L, 1);
      continue;
    }
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
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

static void read_table_into(lua_State *L, ph_dag *d, int idx, JsonObject *to,
                            const char *prefix, int line) {
  idx = lua_absindex(L, idx);
  if (!lua_istable(L, idx))
    return;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) == LUA_TSTRING) {
      const char *k = lua_tostring(L, -2);
      GError *err = NULL;
      JsonNode *v = ph_luajson_to_node(L, -1, TRUE, &err);
      if (v) {
        json_object_set_member(to, k, v);
        g_autofree char *lk = g_strconcat(prefix, k, NULL);
        ph_dag_set_arg_line(d, lk, line);
      } else {
        ph_dag_add_error(d, line, 0, "DAG argument '%s%s': %s", prefix, k,
                         err->message);
        g_error_free(err);
      }
    }
    lua_pop(L, 1);
  }
}

/* Reads package.loaded.pipehost._dags[1] into d. */
static void read_dag(lua_State *L, ph_dag *d) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "loaded");
  lua_getfield(L, -1, "pipehost");
  if (!lua_istable(L, -1)) {
    ph_dag_add_error(d, 0, 0,
                     "no DAG defined: the file must call "
                     "require(\"pipehost\").dag{ id = \"NAME\" }");
    lua_pop(L, 3);
    return;
  }
  lua_getfield(L, -1, "_dags");
  lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
  if (n == 0) {
    ph_dag_add_error(d, 0, 0,
                     "no DAG defined (call pipehost.dag{ id = \"NAME\" })");
    lua_pop(L, 4);
    return;
  }
  if (n > 1) {
    lua_rawgeti(L, -1, 2);
    ph_dag_add_error(d, field_int(L, -1, "line"), 0,
                     "a second DAG is defined here; one DAG per file");
    lua_pop(L, 1);
  }
  lua_rawgeti(L, -1, 1);
  int dg = lua_gettop(L);
  int line = field_int(L, dg, "line");
  lua_getfield(L, dg, "id");
  ph_dag_set_id(d, lua_tostring(L, -1), line);
  lua_pop(L, 1);
  lua_getfield(L, dg, "args");
  read_table_into(L, d, -1, ph_dag_get_args(d), "", line);
  lua_pop(L, 1);
  lua_getfield(L, dg, "default_args");
  if (!lua_istable(L, -1))
    ph_dag_add_error(d, line, 0, "default_args must be a table");
  read_table_into(L, d, -1, ph_dag_get_default_args(d), "default_args.", line);
  lua_pop(L, 1);
  /* task groups (d:group{...}), before their tasks */
  lua_getfield(L, dg, "_groups");
  lua_Integer ng = lua_istable(L, -1) ? (lua_Integer)lua_rawlen(L, -1) : 0;
  for (lua_Integer i = 1; i <= ng; i++) {
    lua_rawgeti(L, -1, i);
    int gl = field_int(L, -1, "line");
    lua_getfield(L, -1, "id");
    lua_getfield(L, -2, "parent");
    int gi = ph_dag_add_group(d, lua_tostring(L, -2),
                              lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL,
                              gl);
    lua_pop(L, 2);
    lua_getfield(L, -1, "default_args");
    if (gi >= 0)
      read_table_into(L, d, -1, ph_dag_group_get_default_args(d, (guint)gi),
                      "group default_args.", gl);
    lua_pop(L, 2);
  }
  lua_pop(L, 1);
  lua_getfield(L, dg, "_tasks");
  lua_Integer nt = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= nt; i++) {
    lua_rawgeti(L, -1, i);
    read_task(L, d, -1);
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  lua_getfield(L, dg, "_edges");
  lua_Integer ne = (lua_Integer)lua_rawlen(L, -1);
  for (lua_Integer i = 1; i <= ne; i++) {
    lua_rawgeti(L, -1, i);
    lua_rawgeti(L, -1, 1);
    lua_rawgeti(L, -2, 2);
    lua_rawgeti(L, -3, 3);
    lua_rawgeti(L, -4, 4); /* the group a name was written in, or nil */
    ph_dag_add_edge_in(d, lua_tostring(L, -4), lua_tostring(L, -3),
                       (int)lua_tointeger(L, -2),
                       lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL);
    lua_pop(L, 5);
  }
  lua_settop(L, 0);
}

/* The wall-clock limit, for the time spent inside one C function (a
 * backtracking string pattern, os.execute('sleep 30'), io.read()), which
 * the instruction hook cannot see: past the limit plus a grace period the
 * process ends with this message.  Loading a DAG file runs its code, as
 * in Airflow; a process that must outlive a DAG file (the scheduler)
 * loads it in a child. */
static char g_stuck_msg[1024];

static void on_stuck(int sig) {
  (void)sig;
  if (write(2, g_stuck_msg, strlen(g_stuck_msg)) < 0) {
    /* nothing more can be done in a handler */
  }
  _exit(2);
}

static void arm_wall_clock(const char *file, gboolean on) {
  struct itimerval it = {{0, 0}, {0, 0}};
  if (on) {
    double limit = g_time_limit * 1.5 + 1;
    g_snprintf(g_stuck_msg, sizeof g_stuck_msg,
               "pipehost: %s: loading the DAG file took over %.0f s inside "
               "one call the time limit cannot interrupt (os.execute, "
               "io.popen, a backtracking string pattern, ...); loading a DAG "
               "file runs its code, so keep slow work in tasks\n",
               file, limit);
    struct sigaction sa = {0};
    sa.sa_handler = on_stuck;
    sigaction(SIGALRM, &sa, NULL);
    it.it_value.tv_sec = (time_t)limit;
    it.it_value.tv_usec = (suseconds_t)((limit - (time_t)limit) * 1e6);
  }
  setitimer(ITIMER_REAL, &it, NULL);
  if (!on)
    signal(SIGALRM, SIG_DFL);
}

ph_dag *ph_lua_load(const char *file, const char *lua_dir, GError **error) {
  ph_lua_limits lim = {0, g_mem_limit, 0, ph_util_mono() + g_time_limit};
  lua_State *L = lua_newstate(ph_luajson_alloc, &lim);
  ph_dag *d = NULL;
  if (!L) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                "%s: cannot create a Lua state", file);
    return NULL;
  }
  luaL_openlibs(L);
  ph_luajson_print_to_stderr(L);
  lua_sethook(L, time_hook, LUA_MASKCOUNT, 100000);
  arm_wall_clock(file, TRUE);
  g_autofree char *dir = g_path_get_dirname(file);
  g_autofree char *path = g_strdup_printf("%s/?.lua;%s/?.lua", lua_dir, dir);
  lua_getglobal(L, "package");
  lua_pushstring(L, path);
  lua_setfield(L, -2, "path");
  lua_pop(L, 1);
  /* the DSL runs the file: it accepts "a >> b" as a statement */
  lua_getglobal(L, "require");
  lua_pushstring(L, "pipehost");
  int rc = lua_pcall(L, 1, 1, 0);
  if (rc == LUA_OK) {
    lua_getfield(L, -1, "run_file");
    g_autofree char *abs = g_canonicalize_filename(file, NULL);
    lua_pushstring(L, file);
    lua_pushstring(L, abs);
    rc = lua_pcall(L, 2, 0, 0);
  }
  if (rc != LUA_OK) {
    const char *msg = lua_tostring(L, -1);
    if (lim.over || rc == LUA_ERRMEM)
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                  "%s: DAG file exceeded the memory limit of %zu MiB while "
                  "loading",
                  file, g_mem_limit >> 20);
    else if (msg && g_str_has_prefix(msg, file))
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s", msg);
    else
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", file,
                  msg ? msg : "error while loading");
    goto out;
  }
  d = ph_dag_new(file, PH_DAG_LUA);
  read_dag(L, d);
out:
  arm_wall_clock(file, FALSE);
  lua_close(L);
  return d;
}
