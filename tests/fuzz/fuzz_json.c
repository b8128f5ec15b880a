/* libFuzzer target: JSON values crossing the ABI (params, XComs) as the
 * host parses them and converts them to Lua and back (ph_luajson).  Any
 * input: no crash, no leak; a value that parses survives the round trip
 * unchanged once normalised. */
#include <lauxlib.h>
#include <lualib.h>
#include <stdint.h>
#include <string.h>

#include "ph_luajson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = g_strndup((const char *)data, size);
  JsonNode *n = json_from_string(text, NULL);
  g_free(text);
  if (!n)
    return 0;
  ph_lua_limits lim = {0, 64u << 20, 0, 0};
  lua_State *L = lua_newstate(ph_luajson_alloc, &lim);
  if (L && lua_checkstack(L, 200)) {
    ph_luajson_push(L, n);
    JsonNode *once = ph_luajson_to_node(L, -1, TRUE, NULL);
    if (once) {
      lua_settop(L, 0);
      ph_luajson_push(L, once);
      JsonNode *twice = ph_luajson_to_node(L, -1, TRUE, NULL);
      char *a = json_to_string(once, FALSE);
      char *b = twice ? json_to_string(twice, FALSE) : NULL;
      if (!b || strcmp(a, b))
        __builtin_trap(); /* Lua -> JSON -> Lua -> JSON must be stable */
      g_free(a);
      g_free(b);
      if (twice)
        json_node_unref(twice);
      json_node_unref(once);
    }
  }
  if (L)
    lua_close(L);
  json_node_unref(n);
  return 0;
}
