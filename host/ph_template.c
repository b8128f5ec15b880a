/* ph_template -- see ph_template.h.
 *
 * One Lua state per render call (created on the first "{{"), with only
 * base, string, table, math and utf8, and without the functions that reach
 * files, load code, change metatables or catch errors (so the limits below
 * cannot be caught).  Limits: 64 MiB of memory and 1 s of wall-clock time
 * per call.  Each expression is evaluated, filtered and turned into text
 * inside a protected call, so no Lua error escapes to C. */
#include "ph_template.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <string.h>

#include <json-glib/json-glib.h>

#include "ph_luajson.h"
#include "ph_util.h"

#define MEM_LIMIT (64u << 20)
#define TIME_LIMIT 1.0
#define HOOK_COUNT 10000

typedef struct {
  ph_lua_limits mem; /* first: the allocator's ud */
  ph_template_xcom_fn xcom;
  void *user;
} tctx;

static void time_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  void *ud;
  lua_getallocf(L, &ud);
  if (ph_util_mono() > ((tctx *)ud)->mem.deadline)
    luaL_error(L, "template expression ran too long (over %d s)",
               (int)TIME_LIMIT);
}

/* ---- xcom_pull(task_ids, key) */
static void pull_one(lua_State *L, tctx *c, const char *task, const char *key) {
  char *v = c->xcom ? c->xcom(task, key, c->user) : NULL;
  JsonNode *n = v ? json_from_string(v, NULL) : NULL;
  g_free(v);
  if (n) {
    ph_luajson_push(L, n);
    json_node_unref(n);
  } else {
    lua_pushnil(L);
  }
}

/* xcom_pull(task_ids [, key]), ti.xcom_pull(...), ti:xcom_pull(...) and
 * xcom_pull{task_ids = ..., key = ...}.  A string gives one value; a list
 * gives a list in the same order, nil where there is no value. */
static int l_xcom_pull(lua_State *L) {
  tctx *c = lua_touserdata(L, lua_upvalueindex(1));
  int a = 1;
  /* ti:xcom_pull(...) passes ti first */
  if (lua_rawequal(L, 1, lua_upvalueindex(2)))
    a = 2;
  lua_settop(L, a + 1);
  if (lua_istable(L, a)) {
    lua_getfield(L, a, "task_ids");
    if (!lua_isnil(L, -1)) { /* xcom_pull{task_ids=..., key=...} */
      lua_getfield(L, a, "key");
      lua_replace(L, a + 1);
      lua_replace(L, a);
    } else {
      lua_pop(L, 1);
    }
  }
  const char *key = luaL_optstring(L, a + 1, "return_value");
  if (lua_type(L, a) == LUA_TSTRING) {
    pull_one(L, c, lua_tostring(L, a), key);
    return 1;
  }
  luaL_argexpected(L, lua_istable(L, a), a, "task id or list of task ids");
  lua_Integer n = (lua_Integer)lua_rawlen(L, a);
  lua_createtable(L, (int)MIN(n, 1 << 16), 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, a, i);
    if (lua_type(L, -1) == LUA_TSTRING)
      pull_one(L, c, lua_tostring(L, -1), key);
    else
      lua_pushnil(L);
    lua_rawseti(L, -3, i);
    lua_pop(L, 1);
  }
  return 1;
}

/* ---- values to text (all pushed as Lua strings; run protected) */

/* Replaces the value at the top with its text. */
static void to_text(lua_State *L) {
  char buf[64];
  switch (lua_type(L, -1)) {
  case LUA_TNIL:
    lua_pushliteral(L, "");
    break;
  case LUA_TBOOLEAN:
    lua_pushstring(L, lua_toboolean(L, -1) ? "true" : "false");
    break;
  case LUA_TNUMBER:
    if (lua_isinteger(L, -1))
      g_snprintf(buf, sizeof buf, "%lld", (long long)lua_tointeger(L, -1));
    else
      g_snprintf(buf, sizeof buf, "%.14g", (double)lua_tonumber(L, -1));
    lua_pushstring(L, buf);
    break;
  case LUA_TSTRING:
    return;
  default: {
    GError *err = NULL;
    JsonNode *n = ph_luajson_to_node(L, -1, FALSE, &err);
    if (!n) {
      lua_pushfstring(L, "cannot show the value: %s", err->message);
      g_error_free(err);
      lua_error(L);
    }
    char *s = json_to_string(n, FALSE);
    json_node_unref(n);
    lua_pushstring(L, s);
    g_free(s);
  }
  }
  lua_remove(L, -2);
}

static void shell_quote(lua_State *L) {
  size_t len;
  const char *s = lua_tolstring(L, -1, &len);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addchar(&b, '\'');
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\'')
      luaL_addstring(&b, "'\\''");
    else
      luaL_addchar(&b, s[i]);
  }
  luaL_addchar(&b, '\'');
  luaL_pushresult(&b);
}

static const char *const filters[] = {"shell_quote", "json", "upper",
                                      "lower",       "ds_nodash", "string",
                                      "trim",        NULL};

static gboolean is_filter(const char *name, size_t len) {
  for (int i = 0; filters[i]; i++)
    if (strlen(filters[i]) == len && !strncmp(filters[i], name, len))
      return TRUE;
  return FALSE;
}

/* Applies filter f to the value at the top, replacing it with text. */
static void apply_filter(lua_State *L, const char *f) {
  if (!strcmp(f, "json")) {
    GError *err = NULL;
    JsonNode *n = ph_luajson_to_node(L, -1, FALSE, &err);
    if (!n) {
      lua_pushfstring(L, "json: %s", err->message);
      g_error_free(err);
      lua_error(L);
    }
    char *s = json_to_string(n, FALSE);
    json_node_unref(n);
    lua_pushstring(L, s);
    g_free(s);
    lua_remove(L, -2);
    return;
  }
  to_text(L);
  const char *cur = lua_tostring(L, -1);
  if (!strcmp(f, "shell_quote")) {
    shell_quote(L);
  } else if (!strcmp(f, "upper") || !strcmp(f, "lower")) {
    char *s = f[0] == 'u' ? g_utf8_strup(cur, -1) : g_utf8_strdown(cur, -1);
    lua_pushstring(L, s);
    g_free(s);
  } else if (!strcmp(f, "trim")) {
    const char *b = cur, *e = cur + strlen(cur);
    while (g_ascii_isspace(*b))
      b++;
    while (e > b && g_ascii_isspace(e[-1]))
      e--;
    lua_pushlstring(L, b, (size_t)(e - b));
  } else if (!strcmp(f, "ds_nodash")) {
    /* like Airflow's: the date part without dashes ("20240102") */
    char out[9];
    size_t n = 0;
    for (const char *p = cur; *p && n < 8; p++)
      if (*p != '-')
        out[n++] = *p;
    lua_pushlstring(L, out, n);
  } else {
    return; /* string: the text itself */
  }
  lua_remove(L, -2);
}

/* Splits "expr | f1 | f2" at top-level pipes followed by a known filter
 * name (and then the end or another pipe).  Returns the expression (caller
 * frees) and appends the filter names to out. */
static char *split_filters(const char *src, GPtrArray *out) {
  GArray *cuts = g_array_new(FALSE, FALSE, sizeof(size_t));
  int depth = 0;
  char quote = 0;
  size_t n = strlen(src);
  for (size_t i = 0; i < n; i++) {
    char ch = src[i];
    if (quote) {
      if (ch == '\\' && i + 1 < n)
        i++;
      else if (ch == quote)
        quote = 0;
      continue;
    }
    if (ch == '\'' || ch == '"')
      quote = ch;
    else if (ch == '(' || ch == '[' || ch == '{')
      depth++;
    else if (ch == ')' || ch == ']' || ch == '}')
      depth--;
    else if (ch == '|' && depth == 0) {
      size_t j = i + 1;
      while (j < n && g_ascii_isspace(src[j]))
        j++;
      size_t k = j;
      while (k < n && (g_ascii_isalnum(src[k]) || src[k] == '_'))
        k++;
      size_t m = k;
      while (m < n && g_ascii_isspace(src[m]))
        m++;
      if (k > j && is_filter(src + j, k - j) && (m == n || src[m] == '|'))
        g_array_append_val(cuts, i);
    }
  }
  char *expr;
  if (!cuts->len) {
    expr = g_strdup(src);
  } else {
    expr = g_strndup(src, g_array_index(cuts, size_t, 0));
    for (guint c = 0; c < cuts->len; c++) {
      size_t from = g_array_index(cuts, size_t, c) + 1;
      size_t to = c + 1 < cuts->len ? g_array_index(cuts, size_t, c + 1) : n;
      char *f = g_strndup(src + from, to - from);
      g_ptr_array_add(out, g_strdup(g_strstrip(f)));
      g_free(f);
    }
  }
  g_array_free(cuts, TRUE);
  return expr;
}

/* ---- the state */

/* lua_CFunction (protected): libraries, sandbox, context globals, xcom.
 * Argument 1: the tctx; 2: the context JsonNode (or NULL). */
static int setup(lua_State *L) {
  tctx *c = lua_touserdata(L, 1);
  JsonNode *ctx = lua_touserdata(L, 2);
  luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  lua_pop(L, 5);
  static const char *const unsafe[] = {
      "dofile", "loadfile",     "load",         "require", "collectgarbage",
      "print",  "setmetatable", "getmetatable", "pcall",   "xpcall",
      NULL};
  for (int i = 0; unsafe[i]; i++) {
    lua_pushnil(L);
    lua_setglobal(L, unsafe[i]);
  }
  lua_getglobal(L, "string");
  lua_pushnil(L);
  lua_setfield(L, -2, "dump");
  lua_pop(L, 1);
  /* the context's members become globals */
  lua_pushglobaltable(L);
  int g = lua_gettop(L);
  if (ctx && JSON_NODE_HOLDS_OBJECT(ctx)) {
    ph_luajson_push(L, ctx);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      lua_pushvalue(L, -2);
      lua_insert(L, -2);
      lua_rawset(L, g);
    }
    lua_pop(L, 1);
  }
  /* ti (made when absent), then xcom_pull as a global and in ti */
  if (lua_getfield(L, g, "ti") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, g, "ti");
  }
  lua_pushlightuserdata(L, c);
  lua_pushvalue(L, -2);
  lua_pushcclosure(L, l_xcom_pull, 2);
  lua_pushvalue(L, -1);
  lua_setfield(L, g, "xcom_pull");
  lua_setfield(L, -2, "xcom_pull");
  lua_settop(L, 0);
  return 0;
}

static lua_State *new_state(tctx *c, const char *context_json,
                            GError **error) {
  lua_State *L = lua_newstate(ph_luajson_alloc, c);
  if (!L) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                "template error: cannot create a Lua state");
    return NULL;
  }
  JsonNode *ctx = json_from_string(context_json ? context_json : "{}", NULL);
  lua_pushcfunction(L, setup);
  lua_pushlightuserdata(L, c);
  lua_pushlightuserdata(L, ctx);
  int rc = lua_pcall(L, 2, 0, 0);
  if (ctx)
    json_node_unref(ctx);
  if (rc != LUA_OK) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                "template error: cannot set up the context: %s",
                lua_tostring(L, -1) ? lua_tostring(L, -1) : "?");
    lua_close(L);
    return NULL;
  }
  lua_sethook(L, time_hook, LUA_MASKCOUNT, HOOK_COUNT);
  return L;
}

static void set_err(GError **error, const char *tmpl, size_t pos,
                    const char *why) {
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
              "template error in '%s' at position %zu: %s", tmpl, pos, why);
}

/* lua_CFunction (protected): evaluates the chunk (upvalue-free: argument
 * 1 the code, 2.. the filter names) and returns its text. */
static int eval(lua_State *L) {
  int nf = lua_gettop(L) - 1;
  size_t len;
  const char *code = lua_tolstring(L, 1, &len);
  if (luaL_loadbuffer(L, code, len, "=template") != LUA_OK)
    return lua_error(L);
  lua_call(L, 0, 1);
  for (int i = 0; i < nf; i++)
    apply_filter(L, lua_tostring(L, 2 + i));
  to_text(L);
  return 1;
}

/* Lua messages start with "template:N: "; the position says where. */
static const char *clean_message(const char *msg) {
  if (!msg)
    return "an error was raised without a message";
  if (g_str_has_prefix(msg, "template:")) {
    const char *p = msg + strlen("template:");
    while (g_ascii_isdigit(*p))
      p++;
    if (p[0] == ':' && p[1] == ' ')
      return p + 2;
  }
  return msg;
}

/* The "}}" that closes the expression starting at p: the first one outside
 * quotes and brackets, so "{{ f{a={1}} }}" and "{{ '}}' }}" work. */
static const char *find_close(const char *p) {
  int depth = 0;
  char quote = 0;
  for (; *p; p++) {
    if (quote) {
      if (*p == '\\' && p[1])
        p++;
      else if (*p == quote)
        quote = 0;
    } else if (*p == '\'' || *p == '"') {
      quote = *p;
    } else if (*p == '}' && p[1] == '}' && depth <= 0) {
      return p;
    } else if (*p == '(' || *p == '[' || *p == '{') {
      depth++;
    } else if (*p == ')' || *p == ']' || *p == '}') {
      depth--;
    }
  }
  return NULL;
}

/* Evaluates one expression (src, without the braces) and appends its text
 * to out. */
static gboolean eval_into(lua_State *L, const char *tmpl, size_t pos,
                          const char *src, GString *out, GError **error) {
  GPtrArray *fl = g_ptr_array_new_with_free_func(g_free);
  char *expr = split_filters(src, fl);
  char *chunk = g_strdup_printf("return (%s\n)", expr);
  gboolean ok = FALSE;
  lua_settop(L, 0);
  if (!lua_checkstack(L, (int)fl->len + 8)) {
    set_err(error, tmpl, pos, "too many filters");
    goto out;
  }
  lua_pushcfunction(L, eval);
  lua_pushstring(L, chunk);
  for (guint i = 0; i < fl->len; i++)
    lua_pushstring(L, fl->pdata[i]);
  if (lua_pcall(L, 1 + (int)fl->len, 1, 0) != LUA_OK) {
    set_err(error, tmpl, pos, clean_message(lua_tostring(L, -1)));
    goto out;
  }
  size_t len;
  const char *text = lua_tolstring(L, -1, &len);
  g_string_append_len(out, text, (gssize)len);
  ok = TRUE;
out:
  lua_settop(L, 0);
  g_free(chunk);
  g_free(expr);
  g_ptr_array_unref(fl);
  return ok;
}

static char *render(lua_State **Lp, tctx *c, const char *tmpl,
                    const char *context_json, GError **error) {
  const char *p = tmpl, *open;
  GString *out = g_string_new(NULL);
  while ((open = strstr(p, "{{"))) {
    size_t pos = (size_t)(open - tmpl);
    g_string_append_len(out, p, open - p);
    const char *close = find_close(open + 2);
    if (!close) {
      set_err(error, tmpl, pos, "'{{' is never closed by '}}'");
      goto fail;
    }
    char *src = g_strstrip(g_strndup(open + 2, close - open - 2));
    gboolean ok = FALSE;
    if (!*src)
      set_err(error, tmpl, pos, "empty expression");
    else if (*Lp || (*Lp = new_state(c, context_json, error)))
      ok = eval_into(*Lp, tmpl, pos, src, out, error);
    g_free(src);
    if (!ok)
      goto fail;
    p = close + 2;
  }
  g_string_append(out, p);
  return g_string_free(out, FALSE);
fail:
  g_string_free(out, TRUE);
  return NULL;
}

static void init_ctx(tctx *c, ph_template_xcom_fn xcom, void *user) {
  memset(c, 0, sizeof *c);
  c->mem.limit = MEM_LIMIT;
  c->mem.deadline = ph_util_mono() + TIME_LIMIT;
  c->xcom = xcom;
  c->user = user;
}

char *ph_template_render(const char *tmpl, const char *context_json,
                         ph_template_xcom_fn xcom, void *user, GError **error) {
  tctx c;
  init_ctx(&c, xcom, user);
  lua_State *L = NULL;
  char *r = render(&L, &c, tmpl, context_json, error);
  if (L)
    lua_close(L);
  return r;
}

static gboolean walk(lua_State **Lp, tctx *c, JsonNode *n,
                     const char *context_json, GError **error) {
  if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    GList *keys = json_object_get_members(o);
    gboolean ok = TRUE;
    for (GList *l = keys; l && ok; l = l->next)
      ok = walk(Lp, c, json_object_get_member(o, l->data), context_json, error);
    g_list_free(keys);
    return ok;
  }
  if (JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(a); i++)
      if (!walk(Lp, c, json_array_get_element(a, i), context_json, error))
        return FALSE;
    return TRUE;
  }
  if (JSON_NODE_HOLDS_VALUE(n) &&
      json_node_get_value_type(n) == G_TYPE_STRING &&
      strstr(json_node_get_string(n), "{{")) {
    char *r = render(Lp, c, json_node_get_string(n), context_json, error);
    if (!r)
      return FALSE;
    json_node_set_string(n, r);
    g_free(r);
  }
  return TRUE;
}

char *ph_template_render_json(const char *json, const char *context_json,
                              ph_template_xcom_fn xcom, void *user,
                              GError **error) {
  JsonNode *n = json_from_string(json, error);
  if (!n) {
    if (error && !*error)
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "template error: empty JSON value");
    return NULL;
  }
  tctx c;
  init_ctx(&c, xcom, user);
  lua_State *L = NULL;
  char *r = NULL;
  if (walk(&L, &c, n, context_json, error))
    r = json_to_string(n, FALSE);
  if (L)
    lua_close(L);
  json_node_unref(n);
  return r;
}
