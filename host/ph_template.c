/* ph_template -- see ph_template.h. */
#include "ph_template.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <string.h>
#include <time.h>

#include <json-glib/json-glib.h>

#include "ph_luajson.h"
#include "ph_util.h"

#define MEM_LIMIT (64u << 20)
#define INSN_LIMIT 50000000

typedef struct {
  ph_lua_limits mem; /* first: the allocator's ud */
  ph_template_xcom_fn xcom;
  void *user;
  char *error;
} tctx;

static void count_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  luaL_error(L, "template expression ran too long");
}

static char *to_text(lua_State *L, int idx) {
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    return g_strdup("");
  case LUA_TBOOLEAN:
    return g_strdup(lua_toboolean(L, idx) ? "true" : "false");
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      return g_strdup_printf("%lld", (long long)lua_tointeger(L, idx));
    /* as Jinja prints a float: 10/2 is "5.0", 0.1 is "0.1" */
    return ph_jsonw_double_text(lua_tonumber(L, idx));
  case LUA_TSTRING:
    return g_strdup(lua_tostring(L, idx));
  default: {
    JsonNode *n = ph_luajson_to_node(L, idx, FALSE, NULL);
    char *s = ph_util_json_dup(n);
    json_node_unref(n);
    return s;
  }
  }
}

/* ---- xcom_pull(task_ids, key) */
static void pull_one(lua_State *L, tctx *c, const char *task, const char *key) {
  char *v = c->xcom ? c->xcom(task, key, c->user) : NULL;
  JsonNode *n = v ? json_from_string(v, NULL) : NULL;
  ph_luajson_push(L, n);
  if (n)
    json_node_unref(n);
  g_free(v);
}

static int l_xcom_pull(lua_State *L) {
  tctx *c = lua_touserdata(L, lua_upvalueindex(1));
  int a = 1;
  /* ti:xcom_pull(...) passes ti first */
  if (lua_istable(L, 1) && lua_getfield(L, 1, "xcom_pull") != LUA_TNIL) {
    lua_pop(L, 1);
    a = 2;
  } else if (lua_istable(L, 1)) {
    lua_pop(L, 1);
  }
  const char *key = "return_value";
  if (lua_istable(L, a) && (lua_getfield(L, a, "task_ids") != LUA_TNIL ||
                            lua_getfield(L, a, "key") != LUA_TNIL)) {
    /* xcom_pull{task_ids=..., key=...}: either may be left out, or be
     * given by position ({'a', key='k'}) */
    lua_settop(L, a);
    if (lua_getfield(L, a, "key") == LUA_TNIL) {
      lua_pop(L, 1);
      lua_rawgeti(L, a, 2);
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
  if (lua_isnoneornil(L, a)) { /* task_ids=None: any task of the run */
    pull_one(L, c, "", key);
    return 1;
  }
  if (lua_type(L, a) == LUA_TSTRING) {
    pull_one(L, c, lua_tostring(L, a), key);
    return 1;
  }
  luaL_checktype(L, a, LUA_TTABLE);
  lua_Integer n = (lua_Integer)lua_rawlen(L, a);
  lua_createtable(L, n, 0);
  for (lua_Integer i = 1; i <= n; i++) {
    lua_rawgeti(L, a, i);
    const char *task = lua_tostring(L, -1);
    lua_pop(L, 1);
    if (task)
      pull_one(L, c, task, key);
    else
      lua_pushnil(L);
    lua_rawseti(L, -2, i);
  }
  return 1;
}

/* ---- filters */
static char *shell_quote(const char *s) {
  GString *g = g_string_new("'");
  for (const char *p = s; *p; p++) {
    if (*p == '\'')
      g_string_append(g, "'\\''");
    else
      g_string_append_c(g, *p);
  }
  g_string_append_c(g, '\'');
  return g_string_free(g, FALSE);
}

static const char *const filters[] = {"shell_quote", "json",   "upper", "lower",
                                      "ds_nodash",   "string", "trim",  NULL};

static gboolean is_filter(const char *name, size_t len) {
  for (int i = 0; filters[i]; i++)
    if (strlen(filters[i]) == len && !strncmp(filters[i], name, len))
      return TRUE;
  return FALSE;
}

/* Splits "expr | f1 | f2" at top-level pipes followed by a known filter
 * name.  Returns the expression (caller frees) and the filter names. */
static char *split_filters(const char *src, GPtrArray *out) {
  GArray *cuts = g_array_new(FALSE, FALSE, sizeof(size_t));
  int depth = 0;
  char quote = 0;
  size_t n = strlen(src);
  for (size_t i = 0; i < n; i++) {
    char ch = src[i];
    if (quote) {
      if (ch == '\\')
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
    size_t first = g_array_index(cuts, size_t, 0);
    expr = g_strndup(src, first);
    for (guint c = 0; c < cuts->len; c++) {
      size_t from = g_array_index(cuts, size_t, c) + 1;
      size_t to = c + 1 < cuts->len ? g_array_index(cuts, size_t, c + 1) : n;
      g_autofree char *f = g_strndup(src + from, to - from);
      g_ptr_array_add(out, g_strdup(g_strstrip(f)));
    }
  }
  g_array_free(cuts, TRUE);
  return expr;
}

/* __index of the globals: a name the context defines (upvalue 1) is nil
 * when it is null; any other name is an error. */
static int l_undefined(lua_State *L) {
  const char *name = lua_tostring(L, 2);
  lua_pushvalue(L, 2);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL) {
    lua_pushnil(L);
    return 1;
  }
  return luaL_error(L,
                    "'%s' is undefined (see the template names in "
                    "docs/dag-guide.md)",
                    name ? name : "?");
}

/* __index of var.value / var.json: "get" is Airflow's
 * var.value.get(name, default); any other missing name is an error, as
 * Airflow's KeyError for a variable that does not exist. */
static int l_var_get(lua_State *L) {
  lua_pushvalue(L, 1);
  if (lua_rawget(L, lua_upvalueindex(1)) != LUA_TNIL)
    return 1;
  lua_pop(L, 1);
  lua_pushvalue(L, 2);
  return 1;
}

static int l_var_missing(lua_State *L) {
  const char *name = lua_tostring(L, 2);
  if (name) { /* PIPEHOST_VAR_FOO is var.value.foo too */
    g_autofree char *up = g_ascii_strup(name, -1);
    lua_pushstring(L, up);
    if (lua_rawget(L, 1) != LUA_TNIL)
      return 1;
    lua_pop(L, 1);
  }
  if (name && !strcmp(name, "get")) {
    lua_pushvalue(L, 1);
    lua_pushcclosure(L, l_var_get, 1);
    return 1;
  }
  return luaL_error(L,
                    "variable '%s' does not exist (pipehost variables set "
                    "%s VALUE, or var.value.get('%s', default))",
                    name ? name : "?", name ? name : "NAME",
                    name ? name : "NAME");
}

static void strict_vars(lua_State *L) {
  if (lua_getglobal(L, "var") != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  static const char *const subs[] = {"value", "json", NULL};
  for (int i = 0; subs[i]; i++) {
    if (lua_getfield(L, -1, subs[i]) == LUA_TTABLE) {
      lua_newtable(L);
      lua_pushcfunction(L, l_var_missing);
      lua_setfield(L, -2, "__index");
      lua_setmetatable(L, -2);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Airflow's macros.ds_add(ds, days): ds moved by days, as YYYY-MM-DD. */
static int l_ds_add(lua_State *L) {
  const char *ds = luaL_checkstring(L, 1);
  lua_Integer days = luaL_checkinteger(L, 2);
  GDate *d = g_date_new();
  g_date_set_parse(d, ds);
  if (!g_date_valid(d) || strlen(ds) != 10) {
    g_date_free(d);
    return luaL_error(L, "macros.ds_add: '%s' is not a YYYY-MM-DD date", ds);
  }
  if (days >= 0)
    g_date_add_days(d, (guint)days);
  else
    g_date_subtract_days(d, (guint)-days);
  char buf[16];
  g_date_strftime(buf, sizeof buf, "%Y-%m-%d", d);
  g_date_free(d);
  lua_pushstring(L, buf);
  return 1;
}

/* Airflow's macros.ds_format(ds, input_format, output_format) (strptime
 * and strftime formats). */
static int l_ds_format(lua_State *L) {
  const char *ds = luaL_checkstring(L, 1);
  const char *in = luaL_checkstring(L, 2);
  const char *out = luaL_checkstring(L, 3);
  struct tm tm = {0};
  const char *end = strptime(ds, in, &tm);
  if (!end || *end)
    return luaL_error(L, "macros.ds_format: '%s' does not match '%s'", ds, in);
  char buf[256];
  if (!strftime(buf, sizeof buf, out, &tm))
    buf[0] = 0;
  lua_pushstring(L, buf);
  return 1;
}

static void add_macros(lua_State *L) {
  lua_newtable(L);
  lua_pushcfunction(L, l_ds_add);
  lua_setfield(L, -2, "ds_add");
  lua_pushcfunction(L, l_ds_format);
  lua_setfield(L, -2, "ds_format");
  lua_setglobal(L, "macros");
}

static lua_State *new_state(tctx *c, const char *context_json, GError **error) {
  lua_State *L = lua_newstate(ph_luajson_alloc, &c->mem);
  if (!L) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_NOMEM,
                "template error: cannot create a Lua state");
    return NULL;
  }
  luaL_requiref(L, "_G", luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
  lua_pop(L, 5);
  static const char *const unsafe[] = {"dofile",  "loadfile",       "load",
                                       "require", "collectgarbage", NULL};
  for (int i = 0; unsafe[i]; i++) {
    lua_pushnil(L);
    lua_setglobal(L, unsafe[i]);
  }
  ph_luajson_print_to_stderr(L);
  lua_newtable(L); /* the names the context defines, null ones included */
  JsonNode *ctx = json_from_string(context_json ? context_json : "{}", NULL);
  if (ctx && JSON_NODE_HOLDS_OBJECT(ctx)) {
    JsonObject *o = json_node_get_object(ctx);
    GList *keys = json_object_get_members(o);
    for (GList *l = keys; l; l = l->next) {
      ph_luajson_push(L, json_object_get_member(o, l->data));
      lua_setglobal(L, l->data);
      lua_pushboolean(L, 1);
      lua_setfield(L, -2, l->data);
    }
    g_list_free(keys);
  }
  if (ctx)
    json_node_unref(ctx);
  lua_setfield(L, LUA_REGISTRYINDEX, "pipehost.defined");
  strict_vars(L);
  add_macros(L);
  lua_pushlightuserdata(L, c);
  lua_pushcclosure(L, l_xcom_pull, 1);
  lua_pushvalue(L, -1);
  lua_setglobal(L, "xcom_pull");
  if (lua_getglobal(L, "ti") != LUA_TTABLE) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setglobal(L, "ti");
  }
  lua_insert(L, -2);
  lua_setfield(L, -2, "xcom_pull");
  lua_pop(L, 1);
  /* Airflow renders with StrictUndefined: a name the context does not
   * define is an error, never empty text (set last: the lookups above
   * may meet undefined names) */
  lua_newtable(L);
  lua_getfield(L, LUA_REGISTRYINDEX, "pipehost.defined");
  lua_pushcclosure(L, l_undefined, 1);
  lua_setfield(L, -2, "__index");
  lua_pushglobaltable(L);
  lua_insert(L, -2);
  lua_setmetatable(L, -2);
  lua_pop(L, 1);
  lua_sethook(L, count_hook, LUA_MASKCOUNT, INSN_LIMIT);
  return L;
}

static void set_err(GError **error, const char *tmpl, size_t pos,
                    const char *why) {
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
              "template error in '%s' at position %zu: %s", tmpl, pos, why);
}

/* Airflow's keyword form, xcom_pull(task_ids='a', key='k'), is not Lua:
 * it becomes the table form xcom_pull{task_ids='a', key='k'} (positional
 * arguments keep their places: t[1] task ids, t[2] key).  Returns a new
 * string (caller frees). */
static char *kwargs_to_table(const char *expr) {
  GString *g = g_string_new(expr);
  for (gsize from = 0;;) {
    char *hit = strstr(g->str + from, "xcom_pull(");
    if (!hit)
      break;
    gsize open = (gsize)(hit - g->str) + strlen("xcom_pull");
    int depth = 0;
    char quote = 0;
    gboolean named = FALSE;
    gsize close = 0;
    for (gsize i = open; i < g->len && !close; i++) {
      char ch = g->str[i];
      if (quote) {
        if (ch == '\\')
          i++;
        else if (ch == quote)
          quote = 0;
      } else if (ch == '\'' || ch == '"') {
        quote = ch;
      } else if (ch == '(' || ch == '{' || ch == '[') {
        depth++;
      } else if (ch == ')' || ch == '}' || ch == ']') {
        if (--depth == 0)
          close = i;
      } else if (ch == '=' && depth == 1 && g->str[i + 1] != '=' &&
                 !strchr("=<>~", g->str[i - 1])) {
        named = TRUE;
      }
    }
    if (named && close) {
      g->str[open] = '{';
      g->str[close] = '}';
    }
    from = open + 1;
  }
  return g_string_free(g, FALSE);
}

/* Evaluates one expression and appends its text to out. */
static gboolean eval_into(lua_State *L, const char *tmpl, size_t pos,
                          const char *src, GString *out, GError **error) {
  GPtrArray *fl = g_ptr_array_new_with_free_func(g_free);
  g_autofree char *expr0 = split_filters(src, fl);
  g_autofree char *expr = kwargs_to_table(expr0);
  g_autofree char *chunk = g_strdup_printf("return (%s)", expr);
  gboolean ok = FALSE;
  int top = lua_gettop(L);
  if (luaL_loadbuffer(L, chunk, strlen(chunk), "=template") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    set_err(error, tmpl, pos, lua_tostring(L, -1));
    goto out;
  }
  char *text = NULL;
  for (guint i = 0; i < fl->len; i++) {
    const char *f = fl->pdata[i];
    if (!strcmp(f, "json")) {
      JsonNode *n = ph_luajson_to_node(L, -1, FALSE, NULL);
      text = ph_util_json_dup(n);
      json_node_unref(n);
    } else {
      char *cur = to_text(L, -1);
      if (!strcmp(f, "shell_quote"))
        text = shell_quote(cur);
      else if (!strcmp(f, "upper"))
        text = g_utf8_strup(cur, -1);
      else if (!strcmp(f, "lower"))
        text = g_utf8_strdown(cur, -1);
      else if (!strcmp(f, "trim"))
        text = g_strdup(g_strstrip(cur));
      else if (!strcmp(f, "ds_nodash")) {
        GString *g = g_string_new(NULL);
        for (const char *p = cur; *p && g->len < 8; p++)
          if (*p != '-')
            g_string_append_c(g, *p);
        text = g_string_free(g, FALSE);
      } else
        text = g_strdup(cur);
      g_free(cur);
    }
    lua_pop(L, 1);
    lua_pushstring(L, text);
    g_free(text);
  }
  text = to_text(L, -1);
  g_string_append(out, text);
  g_free(text);
  ok = TRUE;
out:
  lua_settop(L, top);
  g_ptr_array_unref(fl);
  return ok;
}

/* The "}}" that closes an expression starting at from: outside the
 * expression's string literals ('...', "..." with backslash escapes, and
 * Lua's long strings [[...]]), so "{{ '}}' }}" renders "}}".  NULL when
 * there is none. */
static const char *find_close(const char *from) {
  char quote = 0;
  for (const char *p = from; *p; p++) {
    if (quote) {
      if (*p == '\\' && p[1])
        p++;
      else if (*p == quote)
        quote = 0;
    } else if (*p == '\'' || *p == '"') {
      quote = *p;
    } else if (p[0] == '[' && p[1] == '[') {
      const char *e = strstr(p + 2, "]]");
      if (!e)
        return NULL;
      p = e + 1;
    } else if (p[0] == '}' && p[1] == '}') {
      return p;
    }
  }
  return NULL;
}

static char *render(lua_State **Lp, tctx *c, const char *tmpl,
                    const char *context_json, GError **error) {
  const char *p = tmpl, *open;
  GString *out = g_string_new(NULL);
  while ((open = strstr(p, "{{"))) {
    g_string_append_len(out, p, open - p);
    const char *close = find_close(open + 2);
    if (!close) {
      set_err(error, tmpl, (size_t)(open - tmpl),
              "'{{' is never closed by '}}'");
      goto fail;
    }
    if (!*Lp && !(*Lp = new_state(c, context_json, error)))
      goto fail;
    g_autofree char *src = g_strndup(open + 2, close - open - 2);
    g_strstrip(src);
    if (!*src) {
      set_err(error, tmpl, (size_t)(open - tmpl), "empty expression");
      goto fail;
    }
    if (!eval_into(*Lp, tmpl, (size_t)(open - tmpl), src, out, error))
      goto fail;
    p = close + 2;
  }
  g_string_append(out, p);
  return g_string_free(out, FALSE);
fail:
  g_string_free(out, TRUE);
  return NULL;
}

char *ph_template_render(const char *tmpl, const char *context_json,
                         ph_template_xcom_fn xcom, void *user, GError **error) {
  tctx c = {{0, MEM_LIMIT, 0, 0}, xcom, user, NULL};
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
  if (!n)
    return NULL;
  tctx c = {{0, MEM_LIMIT, 0, 0}, xcom, user, NULL};
  lua_State *L = NULL;
  char *r = NULL;
  if (walk(&L, &c, n, context_json, error))
    r = ph_util_json_dup(n);
  if (L)
    lua_close(L);
  json_node_unref(n);
  return r;
}

gboolean ph_template_has_markers(const char *text) {
  return text && (strstr(text, "{{") || strstr(text, "{%"));
}

gboolean ph_template_calls_patterns(const char *text) {
  if (!ph_template_has_markers(text))
    return FALSE;
  static const char *const fns[] = {"find", "match", "gsub", NULL};
  for (const char *const *f = fns; *f; f++)
    if (strstr(text, *f))
      return TRUE;
  return FALSE;
}
