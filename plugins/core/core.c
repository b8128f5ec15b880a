/* core -- the Lua-callable operators: lua, branch and short_circuit.
 *
 * A callable is a Lua function in a Lua DAG (the param holds
 * {"$lua": "<task>.<key>"}; the plugin runs the DAG file again through the
 * DSL and takes the function from pipehost.callables) or, in YAML, a
 * string of Lua code (an expression, or a chunk with "return").  The
 * function gets ctx: the run context plus xcom_pull, xcom_push, log, var,
 * skip and fail.  Built only against the public header, with its own
 * liblua and json-glib: the host's Lua state is never shared. */
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <json-glib/json-glib.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../common/putil.h"
#include "pipehost/plugin.h"

#define OP_LUA 1
#define OP_BRANCH 2
#define OP_SHORT 3
#define OP_SENSOR 4

typedef struct {
  const ph_host *h;
  int which;
} core_state;

typedef struct {
  const ph_host *h;
  ph_task *t;
  JsonNode *node;   /* the context, parsed on first need (ctx_node) */
  int filled;       /* the ctx table holds the context's members */
  int globals;      /* ctx is a string callable's environment: a name it
                     * lacks is looked up in the globals */
} call_ctx;

/* The context as JSON, parsed once (owned by c). */
static JsonNode *ctx_node(call_ctx *c) {
  if (!c->node)
    c->node = json_from_string(c->h->context_json(c->t), NULL);
  return c->node;
}

/* ---- JSON <-> Lua (the plugin's own; it cannot use host code) */
static void push_json(lua_State *L, JsonNode *n) {
  luaL_checkstack(L, 4, "JSON too deep");
  if (!n || JSON_NODE_HOLDS_NULL(n)) {
    lua_pushnil(L);
  } else if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    lua_newtable(L);
    GList *keys = json_object_get_members(o);
    for (GList *l = keys; l; l = l->next) {
      push_json(L, json_object_get_member(o, l->data));
      lua_setfield(L, -2, l->data);
    }
    g_list_free(keys);
  } else if (JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    lua_newtable(L);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      push_json(L, json_array_get_element(a, i));
      lua_rawseti(L, -2, i + 1);
    }
  } else {
    GType ty = json_node_get_value_type(n);
    if (ty == G_TYPE_BOOLEAN)
      lua_pushboolean(L, json_node_get_boolean(n));
    else if (ty == G_TYPE_INT64)
      lua_pushinteger(L, json_node_get_int(n));
    else if (ty == G_TYPE_DOUBLE)
      lua_pushnumber(L, json_node_get_double(n));
    else
      lua_pushstring(L, json_node_get_string(n));
  }
}

static void put_string(GString *out, const char *s, size_t len) {
  g_string_append_c(out, '"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      g_string_append_printf(out, "\\%c", c);
    else if (c == '\n')
      g_string_append(out, "\\n");
    else if (c == '\t')
      g_string_append(out, "\\t");
    else if (c == '\r')
      g_string_append(out, "\\r");
    else if (c < 0x20)
      g_string_append_printf(out, "\\u%04x", c);
    else
      g_string_append_c(out, (char)c);
  }
  g_string_append_c(out, '"');
}

/* A Lua number as JSON: integers as integers; a float as the shortest text
 * that reads back to it (json-glib's generator would write 1e+20 as the
 * invalid "1e+20.0"), non-finite as null. */
static void put_number(GString *out, lua_State *L, int idx) {
  if (lua_isinteger(L, idx)) {
    g_string_append_printf(out, "%lld", (long long)lua_tointeger(L, idx));
    return;
  }
  double d = lua_tonumber(L, idx);
  if (!isfinite(d)) {
    g_string_append(out, "null");
    return;
  }
  char *txt = pu_double_text(d);
  g_string_append(out, txt);
  if (!strpbrk(txt, ".e"))
    g_string_append(out, ".0");
  g_free(txt);
}

/* One key of a table being written as a JSON object: its text, and
 * whether it was a number (looked up as one). */
typedef struct {
  char *text;
  int is_num;
  lua_Integer num;
} obj_key;

static gint cmp_obj_keys(gconstpointer a, gconstpointer b) {
  return strcmp(((const obj_key *)a)->text, ((const obj_key *)b)->text);
}

/* Appends the Lua value at idx as JSON, losing nothing; FALSE with *why
 * set (caller frees) when it has no JSON form.  A table whose keys are all
 * positive integers is an array (a hole is null: {nil, 2} is [null, 2]);
 * any other table is an object with its keys sorted (equal tables give
 * equal JSON), integer keys written as their decimal text ({x = 1, [2] =
 * "two"} is {"2": "two", "x": 1}).  Functions, userdata, threads, keys
 * that are neither strings nor integers, a string key and an integer key
 * with the same text, very sparse arrays and nesting deeper than 64
 * levels have no JSON form (inf and nan become null, as JSON has
 * neither). */
static gboolean put_value(GString *out, lua_State *L, int idx, int depth,
                          char **why) {
  idx = lua_absindex(L, idx);
  int ty = lua_type(L, idx);
  if (depth > 64) {
    *why = g_strdup("nesting deeper than 64 levels");
    return FALSE;
  }
  if (ty == LUA_TNIL) {
    g_string_append(out, "null");
  } else if (ty == LUA_TBOOLEAN) {
    g_string_append(out, lua_toboolean(L, idx) ? "true" : "false");
  } else if (ty == LUA_TNUMBER) {
    put_number(out, L, idx); /* inf and nan: null (JSON has neither) */
  } else if (ty == LUA_TSTRING) {
    size_t len;
    const char *str = lua_tolstring(L, idx, &len);
    put_string(out, str, len);
  } else if (ty == LUA_TTABLE) {
    lua_Integer count = 0, max = 0;
    gboolean ints = TRUE;
    /* ctx and ctx.ti are filled on first use: fill them before reading */
    if (luaL_getmetafield(L, idx, "__ph_fill") != LUA_TNIL) {
      lua_pushvalue(L, idx);
      lua_call(L, 1, 0);
    }
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      count++;
      if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1)
        max = MAX(max, lua_tointeger(L, -1));
      else
        ints = FALSE;
    }
    if (count && ints) {
      if (max > 2 * count + 16) {
        *why = g_strdup_printf("a sparse list (%lld values up to index "
                               "%lld)",
                               (long long)count, (long long)max);
        return FALSE;
      }
      g_string_append_c(out, '[');
      for (lua_Integer i = 1; i <= max; i++) {
        if (i > 1)
          g_string_append_c(out, ',');
        lua_rawgeti(L, idx, i);
        gboolean ok = put_value(out, L, -1, depth + 1, why);
        lua_pop(L, 1);
        if (!ok)
          return FALSE;
      }
      g_string_append_c(out, ']');
      return TRUE;
    }
    GArray *keys = g_array_new(FALSE, FALSE, sizeof(obj_key));
    gboolean ok = TRUE;
    lua_pushnil(L);
    while (ok && lua_next(L, idx)) {
      lua_pop(L, 1);
      obj_key k = {0};
      if (lua_type(L, -1) == LUA_TSTRING) {
        k.text = g_strdup(lua_tostring(L, -1));
      } else if (lua_isinteger(L, -1)) {
        k.is_num = 1;
        k.num = lua_tointeger(L, -1);
        k.text = g_strdup_printf("%lld", (long long)k.num);
      } else {
        *why = g_strdup_printf("a table key of type %s", luaL_typename(L, -1));
        ok = FALSE;
        lua_pop(L, 1);
        break;
      }
      g_array_append_val(keys, k);
    }
    if (ok) {
      g_array_sort(keys, cmp_obj_keys);
      g_string_append_c(out, '{');
      for (guint i = 0; ok && i < keys->len; i++) {
        obj_key *k = &g_array_index(keys, obj_key, i);
        if (i && !strcmp(k->text, g_array_index(keys, obj_key, i - 1).text)) {
          *why = g_strdup_printf("both a string key and a number key '%s'",
                                 k->text);
          ok = FALSE;
          break;
        }
        if (i)
          g_string_append_c(out, ',');
        put_string(out, k->text, strlen(k->text));
        g_string_append_c(out, ':');
        if (k->is_num)
          lua_rawgeti(L, idx, k->num);
        else
          lua_getfield(L, idx, k->text);
        ok = put_value(out, L, -1, depth + 1, why);
        lua_pop(L, 1);
      }
      g_string_append_c(out, '}');
    }
    for (guint i = 0; i < keys->len; i++)
      g_free(g_array_index(keys, obj_key, i).text);
    g_array_free(keys, TRUE);
    return ok;
  } else {
    *why = g_strdup_printf("a %s", luaL_typename(L, idx));
    return FALSE;
  }
  return TRUE;
}

/* The value at idx as JSON text (caller frees), or NULL with *why set. */
static char *to_json_text(lua_State *L, int idx, char **why) {
  GString *out = g_string_new(NULL);
  if (!put_value(out, L, idx, 0, why)) {
    g_string_free(out, TRUE);
    return NULL;
  }
  return g_string_free(out, FALSE);
}

/* ---- ctx functions */
static call_ctx *cc(lua_State *L) {
  return lua_touserdata(L, lua_upvalueindex(1));
}

static void pull_one(lua_State *L, call_ctx *c, const char *task,
                     const char *key) {
  const char *json = NULL;
  if (c->h->xcom_pull(c->t, task, key, &json) != PH_OK || !json) {
    lua_pushnil(L);
    return;
  }
  JsonNode *n = json_from_string(json, NULL);
  push_json(L, n);
  if (n)
    json_node_unref(n);
}

/* xcom_pull(task_ids, key) in Airflow's forms: a task id or a list of
 * them (a list in, a list out), xcom_pull{task_ids = ..., key = ...} with
 * either left out, and task_ids nil for any task of the run. */
static int l_xcom_pull(lua_State *L) {
  call_ctx *c = cc(L);
  int a = 1;
  /* ti:xcom_pull(...) passes ti first */
  if (lua_istable(L, 1) && lua_getfield(L, 1, "xcom_pull") != LUA_TNIL)
    a = 2;
  lua_settop(L, MAX(lua_gettop(L), 2));
  const char *key = "return_value";
  if (lua_istable(L, a) && (lua_getfield(L, a, "task_ids") != LUA_TNIL ||
                            lua_getfield(L, a, "key") != LUA_TNIL)) {
    lua_settop(L, a);
    if (lua_getfield(L, a, "key") == LUA_TNIL) {
      lua_pop(L, 1);
      lua_rawgeti(L, a, 2); /* {'a', key = ...} with the key by position */
    }
    if (lua_isstring(L, -1))
      key = lua_tostring(L, -1);
    if (lua_getfield(L, a, "task_ids") == LUA_TNIL) {
      lua_pop(L, 1);
      lua_rawgeti(L, a, 1);
    }
    lua_replace(L, a);
  } else {
    lua_settop(L, a + 1);
    if (lua_isstring(L, a + 1))
      key = lua_tostring(L, a + 1);
  }
  if (lua_isnoneornil(L, a)) {
    pull_one(L, c, "", key);
    return 1;
  }
  if (lua_type(L, a) == LUA_TSTRING) {
    pull_one(L, c, lua_tostring(L, a), key);
    return 1;
  }
  luaL_checktype(L, a, LUA_TTABLE);
  lua_Integer n = (lua_Integer)lua_rawlen(L, a);
  lua_createtable(L, (int)n, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, a, i);
    const char *task = lua_tostring(L, -1);
    lua_pop(L, 1);
    pull_one(L, c, task ? task : "", key);
    lua_rawseti(L, -2, i);
  }
  return 1;
}

static int l_xcom_push(lua_State *L) {
  call_ctx *c = cc(L);
  int a = lua_istable(L, 1) ? 2 : 1; /* ti:xcom_push(k, v) */
  const char *key = luaL_checkstring(L, a);
  g_autofree char *why = NULL;
  char *json = to_json_text(L, a + 1, &why);
  if (!json)
    return luaL_error(L,
                      "xcom_push of key '%s': the value has no JSON form "
                      "(%s)",
                      key, why);
  ph_status st = c->h->xcom_push(c->t, key, json);
  g_free(json);
  if (st != PH_OK)
    return luaL_error(L, "xcom_push of key '%s' was refused (status %d)", key,
                      (int)st);
  return 0;
}

static int l_log(lua_State *L) {
  call_ctx *c = cc(L);
  int n = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (int i = 1; i <= n; i++) {
    if (i > 1)
      luaL_addchar(&b, ' ');
    luaL_tolstring(L, i, NULL);
    luaL_addvalue(&b);
  }
  luaL_pushresult(&b);
  c->h->log(c->t, PH_LOG_INFO, "%s", lua_tostring(L, -1));
  return 0;
}

/* var(name[, default]): a variable; missing with no default is an error,
 * as Airflow's Variable.get raises KeyError (pass a default, even nil
 * explicitly, to allow absence). */
static int l_var(lua_State *L) {
  call_ctx *c = cc(L);
  const char *name = luaL_checkstring(L, 1);
  const char *v = NULL;
  if (c->h->variable_get(c->t, name, &v) == PH_OK && v)
    lua_pushstring(L, v);
  else if (lua_gettop(L) >= 2)
    lua_pushvalue(L, 2); /* default */
  else
    return luaL_error(L,
                      "variable '%s' does not exist (pipehost variables "
                      "set %s VALUE, or var('%s', default))",
                      name, name, name);
  return 1;
}

/* var_set(name, value): Airflow's Variable.set (value as text; a table is
 * stored as its JSON, which var.json.NAME reads back). */
static int l_var_set(lua_State *L) {
  call_ctx *c = cc(L);
  const char *name = luaL_checkstring(L, 1);
  g_autofree char *json = NULL;
  const char *value;
  if (lua_type(L, 2) == LUA_TSTRING || lua_type(L, 2) == LUA_TNUMBER) {
    value = lua_tostring(L, 2);
  } else {
    g_autofree char *why = NULL;
    json = to_json_text(L, 2, &why);
    if (!json)
      return luaL_error(L, "var_set('%s'): the value has no JSON form (%s)",
                        name, why);
    value = json;
  }
  if (!PH_HAS(c->h, ph_host, variable_set) || !c->h->variable_set)
    return luaL_error(L, "var_set: this pipehost predates ABI 1.4");
  if (c->h->variable_set(c->t, name, value) != PH_OK)
    return luaL_error(L, "var_set('%s') was refused", name);
  return 0;
}

/* conn(conn_id): the connection as a table {conn_id, conn_type, host, port,
 * login, password, schema, extra}, or nil when it is not defined.  Its
 * password is masked in the task's log from then on.  Callables read
 * connections here, not from the environment: PIPEHOST_CONN_* variables
 * are not passed to tasks. */
static int l_conn(lua_State *L) {
  call_ctx *c = cc(L);
  const char *json = NULL;
  if (c->h->connection_get(c->t, luaL_checkstring(L, 1), &json) != PH_OK ||
      !json) {
    lua_pushnil(L);
    return 1;
  }
  JsonNode *n = json_from_string(json, NULL);
  push_json(L, n);
  if (n)
    json_node_unref(n);
  return 1;
}

/* json.encode(value): JSON text, or an error when value has none. */
static int l_json_encode(lua_State *L) {
  luaL_checkany(L, 1);
  g_autofree char *why = NULL;
  char *json = to_json_text(L, 1, &why);
  if (!json)
    return luaL_error(L, "json.encode: the value has no JSON form (%s)", why);
  lua_pushstring(L, json);
  g_free(json);
  return 1;
}

/* json.decode(text): the value (null is nil), or an error naming where
 * the text stops being JSON. */
static int l_json_decode(lua_State *L) {
  const char *text = luaL_checkstring(L, 1);
  GError *err = NULL;
  JsonNode *n = json_from_string(text, &err);
  if (!n) {
    lua_pushfstring(L, "json.decode: %s",
                    err ? err->message : "empty text is not JSON");
    g_clear_error(&err);
    return lua_error(L);
  }
  push_json(L, n);
  json_node_unref(n);
  return 1;
}

/* Sets global json = {encode, decode}: callables read and write JSON
 * without a library of their own. */
static void add_json_lib(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_json_encode);
  lua_setfield(L, -2, "encode");
  lua_pushcfunction(L, l_json_decode);
  lua_setfield(L, -2, "decode");
  lua_setglobal(L, "json");
}

/* skip/fail raise a table {__ph_status = N, reason = "..."} */
static int raise_status(lua_State *L, int status) {
  lua_newtable(L);
  lua_pushinteger(L, status);
  lua_setfield(L, -2, "__ph_status");
  lua_pushstring(L, luaL_optstring(L, 1, ""));
  lua_setfield(L, -2, "reason");
  return lua_error(L);
}
static int l_skip(lua_State *L) { return raise_status(L, PH_SKIP); }
static int l_fail(lua_State *L) { return raise_status(L, PH_FAIL); }

static void set_fn(lua_State *L, call_ctx *c, lua_CFunction f,
                   const char *name) {
  lua_pushlightuserdata(L, c);
  lua_pushcclosure(L, f, 1);
  lua_setfield(L, -2, name);
}

static void cancel_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_getfield(L, LUA_REGISTRYINDEX, "pipehost.call");
  call_ctx *c = lua_touserdata(L, -1);
  lua_pop(L, 1);
  if (c && c->h->is_cancelled(c->t))
    luaL_error(L, "cancelled by the host (timeout or kill)");
}

/* ctx is filled from the context JSON on first use -- a read of a name
 * it lacks, pairs(), or turning it into JSON -- not before: converting
 * the 2 KB context to Lua tables is most of what a short callable costs,
 * and many never look at it.  The functions above are set at once and
 * win over context members of the same name (var). */
static void ctx_fill(lua_State *L, call_ctx *c) {
  if (c->filled)
    return;
  c->filled = 1;
  JsonNode *n = ctx_node(c);
  if (!n || !JSON_NODE_HOLDS_OBJECT(n))
    return;
  lua_getfield(L, LUA_REGISTRYINDEX, "pipehost.ctx");
  int ctx = lua_gettop(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "pipehost.ti");
  int ti = lua_gettop(L);
  JsonObject *o = json_node_get_object(n);
  GList *keys = json_object_get_members(o);
  for (GList *l = keys; l; l = l->next) {
    JsonNode *v = json_object_get_member(o, l->data);
    if (!strcmp(l->data, "ti") && JSON_NODE_HOLDS_OBJECT(v)) {
      JsonObject *tio = json_node_get_object(v);
      GList *tk = json_object_get_members(tio);
      for (GList *m = tk; m; m = m->next) {
        lua_pushstring(L, m->data);
        if (lua_rawget(L, ti) == LUA_TNIL) {
          push_json(L, json_object_get_member(tio, m->data));
          lua_setfield(L, ti, m->data);
        }
        lua_pop(L, 1);
      }
      g_list_free(tk);
      continue;
    }
    lua_pushstring(L, l->data);
    if (lua_rawget(L, ctx) == LUA_TNIL) {
      lua_pushstring(L, l->data);
      push_json(L, v);
      lua_rawset(L, ctx);
    }
    lua_pop(L, 1);
  }
  g_list_free(keys);
  lua_pop(L, 2);
}

/* __ph_fill(t) */
static int l_fill(lua_State *L) {
  ctx_fill(L, cc(L));
  return 0;
}

/* ctx's __index(t, k): a standard global first for a string callable
 * (no context member is named like one), else the context's member */
static int l_ctx_index(lua_State *L) {
  call_ctx *c = cc(L);
  if (c->globals && lua_type(L, 2) == LUA_TSTRING) {
    lua_pushglobaltable(L);
    lua_pushvalue(L, 2);
    if (lua_rawget(L, -2) != LUA_TNIL)
      return 1;
    lua_pop(L, 2);
  }
  ctx_fill(L, c);
  lua_pushvalue(L, 2);
  lua_rawget(L, 1);
  return 1;
}

/* ctx.ti's __index(t, k) */
static int l_ti_index(lua_State *L) {
  ctx_fill(L, cc(L));
  lua_pushvalue(L, 2);
  lua_rawget(L, 1);
  return 1;
}

/* __pairs(t) */
static int l_pairs(lua_State *L) {
  ctx_fill(L, cc(L));
  lua_getglobal(L, "next");
  lua_pushvalue(L, 1);
  lua_pushnil(L);
  return 3;
}

/* Sets on the table at the top a metatable whose __index is index. */
static void set_lazy_meta(lua_State *L, call_ctx *c, lua_CFunction index) {
  lua_newtable(L);
  lua_pushlightuserdata(L, c);
  lua_pushcclosure(L, index, 1);
  lua_setfield(L, -2, "__index");
  lua_pushlightuserdata(L, c);
  lua_pushcclosure(L, l_pairs, 1);
  lua_setfield(L, -2, "__pairs");
  lua_pushlightuserdata(L, c);
  lua_pushcclosure(L, l_fill, 1);
  lua_setfield(L, -2, "__ph_fill");
  lua_setmetatable(L, -2);
}

/* Pushes ctx: the functions above now, the context's members on first
 * use (ctx_fill). */
static void push_ctx(lua_State *L, call_ctx *c) {
  lua_newtable(L);
  set_fn(L, c, l_xcom_pull, "xcom_pull");
  set_fn(L, c, l_xcom_push, "xcom_push");
  set_fn(L, c, l_log, "log");
  set_fn(L, c, l_var, "var");
  set_fn(L, c, l_conn, "conn");
  set_fn(L, c, l_var_set, "var_set");
  set_fn(L, c, l_skip, "skip");
  set_fn(L, c, l_fail, "fail");
  lua_newtable(L); /* ti */
  set_fn(L, c, l_xcom_pull, "xcom_pull");
  set_fn(L, c, l_xcom_push, "xcom_push");
  set_lazy_meta(L, c, l_ti_index);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "pipehost.ti");
  lua_setfield(L, -2, "ti");
  set_lazy_meta(L, c, l_ctx_index);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, "pipehost.ctx");
}

static const char *str_member(JsonNode *ctx, const char *k) {
  if (!ctx || !JSON_NODE_HOLDS_OBJECT(ctx))
    return "";
  return json_object_get_string_member_with_default(json_node_get_object(ctx),
                                                    k, "");
}

/* Pushes the callable named by param fn, or returns FALSE with *why set. */
static gboolean push_callable(lua_State *L, const ph_host *h, ph_task *t,
                              call_ctx *c, int ctx_idx, char **why) {
  /* Lua code as a string (the usual case) needs no JSON round trip */
  const char *code = NULL;
  const char *fn =
      h->param_string(t, "fn", &code) == PH_OK ? NULL : h->param_json(t, "fn");
  JsonNode *n = fn ? json_from_string(fn, NULL) : NULL;
  gboolean ok = FALSE;
  if (n && JSON_NODE_HOLDS_OBJECT(n)) {
    const char *ref = json_object_get_string_member_with_default(
        json_node_get_object(n), "$lua", "");
    JsonNode *ctx = ctx_node(c);
    g_autofree char *dir = g_path_get_dirname(str_member(ctx, "dag_file"));
    g_autofree char *path =
        g_strdup_printf("%s/?.lua;%s/?.lua", str_member(ctx, "lua_dir"), dir);
    lua_getglobal(L, "package");
    lua_pushstring(L, path);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    lua_getglobal(L, "require");
    lua_pushstring(L, "pipehost");
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
      *why =
          g_strdup_printf("cannot load the Lua DSL: %s", lua_tostring(L, -1));
      goto out;
    }
    lua_getfield(L, -1, "run_file");
    lua_pushstring(L, str_member(ctx, "dag_file"));
    if (lua_pcall(L, 1, 0, 0) != LUA_OK) {
      *why =
          g_strdup_printf("cannot run the DAG file: %s", lua_tostring(L, -1));
      goto out;
    }
    lua_getfield(L, -1, "callables");
    lua_getfield(L, -1, ref);
    if (!lua_isfunction(L, -1)) {
      *why = g_strdup_printf("the DAG file defines no function for '%s'", ref);
      goto out;
    }
    lua_replace(L, -3);
    lua_pop(L, 1);
    ok = TRUE;
  } else if (code) {
    /* an expression when it reads as one (its value is returned), else a
     * chunk of statements (which may return a value or not), as Lua's own
     * REPL reads a line */
    g_autofree char *expr = g_strdup_printf("return %s", code);
    if (luaL_loadbuffer(L, expr, strlen(expr), "=fn") != LUA_OK) {
      lua_pop(L, 1);
      if (luaL_loadbuffer(L, code, strlen(code), "=fn") != LUA_OK) {
        *why = g_strdup_printf("in fn: %s", lua_tostring(L, -1));
        goto out;
      }
    }
    /* the environment is ctx itself, falling back to the globals */
    c->globals = 1;
    lua_pushvalue(L, ctx_idx);
    lua_setupvalue(L, -2, 1);
    ok = TRUE;
  } else {
    *why =
        g_strdup("param 'fn' must be a Lua function or a string of Lua code");
  }
out:
  if (n)
    json_node_unref(n);
  return ok;
}

static ph_status core_init(const ph_host *h, ph_task *t, void **out) {
  (void)t;
  core_state *s = calloc(1, sizeof *s);
  if (!s)
    return PH_ERROR;
  s->h = h;
  *out = s;
  return PH_OK;
}

/* TRUE when the value at idx is truthy as Python sees it (Airflow's
 * PythonSensor): not nil, false, 0, "" or an empty table. */
static gboolean truthy(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return FALSE;
  case LUA_TBOOLEAN:
    return lua_toboolean(L, idx);
  case LUA_TNUMBER:
    return lua_tonumber(L, idx) != 0;
  case LUA_TSTRING:
    return lua_rawlen(L, idx) > 0;
  case LUA_TTABLE:
    lua_pushnil(L);
    if (lua_next(L, idx < 0 ? idx - 1 : idx)) {
      lua_pop(L, 2);
      return TRUE;
    }
    return FALSE;
  default:
    return TRUE;
  }
}

/* A Lua state with the standard libraries and json. */
static lua_State *new_state(void) {
  lua_State *L = luaL_newstate();
  luaL_openlibs(L);
  add_json_lib(L);
  return L;
}

/* Made by prefork in the process that forks the workers, so that each
 * worker starts with one ready (and unused). */
static lua_State *g_pristine;

static void core_prefork(void) {
  if (!g_pristine)
    g_pristine = new_state();
}

static ph_status run(core_state *s, ph_task *t, int which, int32_t *done) {
  const ph_host *h = s->h;
  call_ctx c = {.h = h, .t = t};
  char *why = NULL;
  ph_status st = PH_OK;
  lua_State *L = g_pristine ? g_pristine : new_state();
  g_pristine = NULL; /* a try's state is its own, used once */
  lua_pushlightuserdata(L, &c);
  lua_setfield(L, LUA_REGISTRYINDEX, "pipehost.call");
  lua_sethook(L, cancel_hook, LUA_MASKCOUNT, 100000);
  push_ctx(L, &c);
  int ctx_idx = lua_gettop(L);
  if (!push_callable(L, h, t, &c, ctx_idx, &why)) {
    h->set_reason(t, "%s", why);
    st = PH_FAIL;
    goto out;
  }
  /* arguments: ctx, then args...; kwargs go to ctx.kwargs */
  const char *kw = h->param_json(t, "kwargs");
  if (kw) {
    JsonNode *k = json_from_string(kw, NULL);
    push_json(L, k);
    lua_setfield(L, ctx_idx, "kwargs");
    if (k)
      json_node_unref(k);
  }
  lua_pushvalue(L, ctx_idx);
  int nargs = 1;
  const char *args = h->param_json(t, "args");
  JsonNode *an = args ? json_from_string(args, NULL) : NULL;
  if (an && JSON_NODE_HOLDS_ARRAY(an)) {
    JsonArray *a = json_node_get_array(an);
    for (guint i = 0; i < json_array_get_length(a); i++, nargs++)
      push_json(L, json_array_get_element(a, i));
  }
  if (an)
    json_node_unref(an);
  if (lua_pcall(L, nargs, 1, 0) != LUA_OK) {
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "__ph_status");
      st = (ph_status)lua_tointeger(L, -1);
      lua_getfield(L, -2, "reason");
      h->set_reason(t, "%s", lua_tostring(L, -1));
      goto out;
    }
    h->set_reason(t, "lua error: %s", lua_tostring(L, -1));
    st = h->is_cancelled(t) ? PH_CANCELLED : PH_ERROR;
    goto out;
  }
  if (which == OP_BRANCH) {
    int r = lua_gettop(L);
    int n = lua_istable(L, r) ? (int)lua_rawlen(L, r) : lua_isnil(L, r) ? 0 : 1;
    for (int i = 1; i <= n && st == PH_OK; i++) {
      if (lua_istable(L, r))
        lua_rawgeti(L, r, i);
      else
        lua_pushvalue(L, r);
      const char *id = lua_tostring(L, -1);
      if (!id || h->branch_follow(t, id) != PH_OK) {
        h->set_reason(t,
                      "branch returned '%s', which is not a direct "
                      "downstream task id",
                      id ? id : luaL_typename(L, -1));
        st = PH_FAIL;
      }
      lua_pop(L, 1);
    }
    if (st != PH_OK)
      goto out;
  }
  if (which == OP_SHORT && lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_pushboolean(L, 0);
  }
  if (which == OP_SENSOR) {
    /* done when truthy; a value other than true becomes the XCom */
    *done = truthy(L, -1);
    if (!*done || (lua_isboolean(L, -1) && lua_toboolean(L, -1)))
      goto out;
  }
  if (!lua_isnil(L, -1)) {
    g_autofree char *bad = NULL;
    char *json = to_json_text(L, -1, &bad);
    if (!json) {
      h->set_reason(t, "the return value has no JSON form: %s", bad);
      st = PH_FAIL;
      goto out;
    }
    st = h->xcom_push(t, NULL, json);
    g_free(json);
  }
out:
  g_free(why);
  lua_close(L);
  if (c.node)
    json_node_unref(c.node);
  return st;
}

static ph_status lua_execute(void *state, ph_task *t) {
  return run(state, t, OP_LUA, NULL);
}
static ph_status branch_execute(void *state, ph_task *t) {
  return run(state, t, OP_BRANCH, NULL);
}
static ph_status short_execute(void *state, ph_task *t) {
  return run(state, t, OP_SHORT, NULL);
}
static ph_status sensor_poke(void *state, ph_task *t, int32_t *done) {
  return run(state, t, OP_SENSOR, done);
}
static void core_destroy(void *state) { free(state); }

static const ph_param p_fn = {
    PH_PARAM_INIT, .name = "fn", .type = "callable", .flags = PH_PARAM_REQUIRED,
    .doc = "A Lua function (Lua DAG) or Lua code (YAML) called with ctx"};
static const ph_param p_args = {PH_PARAM_INIT, .name = "args", .type = "array",
                                .flags = PH_PARAM_TEMPLATED,
                                .doc = "Extra arguments after ctx"};
static const ph_param p_kwargs = {PH_PARAM_INIT, .name = "kwargs",
                                  .type = "object", .flags = PH_PARAM_TEMPLATED,
                                  .doc = "Available to the function as "
                                         "ctx.kwargs"};
static const ph_param p_ignore = {
    PH_PARAM_INIT, .name = "ignore_downstream_trigger_rules", .type = "boolean",
    .default_json = "true",
    .doc = "A falsy result skips every downstream task (true) or only the "
           "direct ones, the rest following their trigger rules (false)"};
static const ph_param *const lua_params[] = {&p_fn, &p_args, &p_kwargs, NULL};
static const ph_param *const short_params[] = {&p_fn, &p_args, &p_kwargs,
                                               &p_ignore, NULL};

static const ph_operator op_lua = {
    PH_OPERATOR_INIT,
    .type = "lua",
    .doc = "Calls a Lua function; its return value becomes the XCom "
           "return_value (Airflow's PythonOperator)",
    .kind = PH_KIND_TASK,
    .params = lua_params,
    .init = core_init,
    .execute = lua_execute,
    .destroy = core_destroy};
static const ph_operator op_branch = {
    PH_OPERATOR_INIT,
    .type = "branch",
    .doc = "Calls a Lua function returning the downstream task id(s) to "
           "follow; the other direct downstreams are skipped",
    .kind = PH_KIND_BRANCH,
    .params = lua_params,
    .init = core_init,
    .execute = branch_execute,
    .destroy = core_destroy};
static const ph_operator op_short = {
    PH_OPERATOR_INIT,
    .type = "short_circuit",
    .doc = "Calls a Lua function; a falsy result skips downstream tasks "
           "(Airflow's ShortCircuitOperator)",
    .kind = PH_KIND_TASK,
    .flags = PH_OP_SHORT_CIRCUIT,
    .params = short_params,
    .init = core_init,
    .execute = short_execute,
    .destroy = core_destroy};

static const ph_operator op_sensor = {
    PH_OPERATOR_INIT,
    .type = "lua_sensor",
    .doc = "Calls a Lua function at each poke until it returns a truthy "
           "value (Airflow's PythonSensor); a value other than true becomes "
           "the XCom return_value",
    .kind = PH_KIND_SENSOR,
    .params = lua_params,
    .init = core_init,
    .poke = sensor_poke,
    .destroy = core_destroy};

static const ph_operator *const ops[] = {&op_lua, &op_branch, &op_short,
                                         &op_sensor, NULL};

static const ph_plugin plugin = {
    PH_PLUGIN_INIT,
    .name = "core",
    .version = "1.0.0",
    .license = "MIT",
    .description = "Lua callables: lua, branch, short_circuit, lua_sensor",
    .origin = "pipehost",
    .operators = ops,
    .prefork = core_prefork,
};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
