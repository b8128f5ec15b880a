/* ph_luajson -- converts between JSON (json-glib) and Lua values, for the
 * Lua DAG loader and the template renderer. */
#ifndef PH_LUAJSON_H
#define PH_LUAJSON_H

#include <json-glib/json-glib.h>
#include <lua.h>

/* Pushes n as a Lua value: objects and arrays become tables, null nil. */
void ph_luajson_push(lua_State *L, JsonNode *n);

/* Converts the value at idx.  A table is an array when its keys are
 * exactly 1..n (n > 0), otherwise an object with string keys.  strict: a
 * function, userdata or thread is an error (error set, NULL returned);
 * otherwise they become their tostring() text.  Nesting is limited to 64
 * levels.  Caller frees the node. */
JsonNode *ph_luajson_to_node(lua_State *L, int idx, gboolean strict,
                             GError **error);

/* Memory accounting for a Lua state made with lua_newstate(
 * ph_luajson_alloc, &limits): allocations past limit fail (Lua raises a
 * memory error) and set over. */
typedef struct ph_lua_limits {
  size_t used;
  size_t limit;
  int over;
  double deadline; /* for the owner's hook; not used by the allocator */
} ph_lua_limits;

/* A lua_Alloc that enforces ud's ph_lua_limits. */
void *ph_luajson_alloc(void *ud, void *ptr, size_t osize, size_t nsize);

/* Makes the state's print() write to standard error: standard output is
 * the CLI's (its --json answers), never a DAG file's or template's. */
void ph_luajson_print_to_stderr(lua_State *L);

#endif
