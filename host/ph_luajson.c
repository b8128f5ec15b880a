/* ph_luajson -- see ph_luajson.h. */
#include "ph_luajson.h"
#include "ph_util.h"

#include <lauxlib.h>
#include <stdio.h>
#include <string.h>

void ph_luajson_push(lua_State *L, JsonNode *n) {
  luaL_checkstack(L, 4, "JSON value too deep");
  if (!n || JSON_NODE_HOLDS_NULL(n)) {
    lua_pushnil(L);
  } else if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    lua_createtable(L, 0, json_object_get_size(o));
    GList *keys = json_object_get_members(o);
    for (GList *l = keys; l; l = l->next) {
      ph_luajson_push(L, json_object_get_member(o, l->data));
      lua_setfield(L, -2, l->data);
    }
    g_list_free(keys);
  } else if (JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    guint len = json_array_get_length(a);
    lua_createtable(L, len, 0);
    for (guint i = 0; i < len; i++) {
      ph_luajson_push(L, json_array_get_element(a, i));
      lua_rawseti(L, -2, i + 1);
    }
  } else {
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_BOOLEAN)
      lua_pushboolean(L, json_node_get_boolean(n));
    else if (t == G_TYPE_INT64)
      lua_pushinteger(L, json_node_get_int(n));
    else if (t == G_TYPE_DOUBLE)
      lua_pushnumber(L, json_node_get_double(n));
    else
      lua_pushstring(L, json_node_get_string(n));
  }
}

static gint cmp_keys(gconstpointer a, gconstpointer b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static JsonNode *convert(lua_State *L, int idx, gboolean strict, int depth,
                         GError **error) {
  idx = lua_absindex(L, idx);
  JsonNode *n = json_node_new(JSON_NODE_VALUE);
  switch (lua_type(L, idx)) {
  case LUA_TNIL:
    json_node_init_null(n);
    return n;
  case LUA_TBOOLEAN:
    json_node_set_boolean(n, lua_toboolean(L, idx));
    return n;
  case LUA_TNUMBER:
    if (lua_isinteger(L, idx))
      json_node_set_int(n, lua_tointeger(L, idx));
    else
      json_node_set_double(n, lua_tonumber(L, idx));
    return n;
  case LUA_TSTRING: {
    size_t len;
    const char *text = lua_tolstring(L, idx, &len);
    if (!g_utf8_validate(text, (gssize)len, NULL)) {
      if (strict) {
        g_autofree char *shown = ph_util_utf8_lossy(text, MIN(len, 60), NULL);
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "the string \"%s%s\" is not valid UTF-8 (a NUL or a "
                    "byte of another encoding): DAG values are JSON text; "
                    "write the text in UTF-8",
                    shown, len > 60 ? "..." : "");
        json_node_unref(n);
        return NULL;
      }
      g_autofree char *fixed = ph_util_utf8_lossy(text, (gssize)len, NULL);
      json_node_set_string(n, fixed);
      return n;
    }
    json_node_set_string(n, text);
    return n;
  }
  case LUA_TTABLE:
    break;
  default:
    if (strict) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "a %s cannot be stored here (only strings, numbers, "
                  "booleans and tables; functions only as a task's own "
                  "argument)",
                  luaL_typename(L, idx));
      json_node_unref(n);
      return NULL;
    }
    json_node_set_string(n, luaL_tolstring(L, idx, NULL));
    lua_pop(L, 1);
    return n;
  }
  if (depth > 64) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "nesting deeper than 64 levels");
    json_node_unref(n);
    return NULL;
  }
  luaL_checkstack(L, 6, "table too deep");
  lua_Integer len = (lua_Integer)lua_rawlen(L, idx);
  gboolean array = len > 0;
  lua_Integer count = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    count++;
    if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
        lua_tointeger(L, -1) > len)
      array = FALSE;
  }
  array = array && count == len;
  if (array) {
    JsonArray *a = json_array_new();
    for (lua_Integer i = 1; i <= len; i++) {
      lua_rawgeti(L, idx, i);
      JsonNode *e = convert(L, -1, strict, depth + 1, error);
      lua_pop(L, 1);
      if (!e) {
        json_array_unref(a);
        json_node_unref(n);
        return NULL;
      }
      json_array_add_element(a, e);
    }
    json_node_init_array(n, a);
    json_array_unref(a);
    return n;
  }
  /* keys sorted, so equal tables always give equal JSON text */
  GPtrArray *keys = g_ptr_array_new_with_free_func(g_free);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TSTRING && lua_type(L, -1) != LUA_TNUMBER)
      continue;
    lua_pushvalue(L, -1);
    size_t klen;
    const char *key = lua_tolstring(L, -1, &klen);
    if (strict && !g_utf8_validate(key, (gssize)klen, NULL)) {
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "a key is not valid UTF-8: DAG values are JSON text");
      lua_pop(L, 3);
      g_ptr_array_unref(keys);
      json_node_unref(n);
      return NULL;
    }
    g_ptr_array_add(keys, g_strdup(key));
    lua_pop(L, 1);
  }
  g_ptr_array_sort(keys, cmp_keys);
  JsonObject *o = json_object_new();
  for (guint i = 0; i < keys->len; i++) {
    const char *k = keys->pdata[i];
    lua_getfield(L, idx, k);
    if (lua_isnil(L, -1)) { /* a numeric key: look it up as a number */
      lua_pop(L, 1);
      lua_pushnumber(L, g_ascii_strtod(k, NULL));
      lua_rawget(L, idx);
    }
    JsonNode *e = convert(L, -1, strict, depth + 1, error);
    lua_pop(L, 1);
    if (!e) {
      g_ptr_array_unref(keys);
      json_object_unref(o);
      json_node_unref(n);
      return NULL;
    }
    json_object_set_member(o, k, e);
  }
  g_ptr_array_unref(keys);
  json_node_init_object(n, o);
  json_object_unref(o);
  return n;
}

JsonNode *ph_luajson_to_node(lua_State *L, int idx, gboolean strict,
                             GError **error) {
  return convert(L, idx, strict, 0, error);
}

void *ph_luajson_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  ph_lua_limits *l = ud;
  size_t old = ptr ? osize : 0;
  if (nsize == 0) {
    l->used -= old;
    g_free(ptr);
    return NULL;
  }
  if (nsize > old && l->used + (nsize - old) > l->limit) {
    l->over = 1;
    return NULL;
  }
  void *p = g_try_realloc(ptr, nsize);
  if (p)
    l->used += nsize - old;
  return p;
}

static int l_print_stderr(lua_State *L) {
  int n = lua_gettop(L);
  for (int i = 1; i <= n; i++) {
    size_t len;
    const char *text = luaL_tolstring(L, i, &len);
    if (i > 1)
      fputc('\t', stderr);
    fwrite(text, 1, len, stderr);
    lua_pop(L, 1);
  }
  fputc('\n', stderr);
  fflush(stderr);
  return 0;
}

void ph_luajson_print_to_stderr(lua_State *L) {
  lua_pushcfunction(L, l_print_stderr);
  lua_setglobal(L, "print");
}
