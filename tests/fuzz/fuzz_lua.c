/* libFuzzer target: the Lua DAG loader, under small time and memory
 * limits, must never crash on any input. */
#include <glib.h>
#include <stdint.h>
#include <unistd.h>

#include "ph_dag.h"
#include "ph_lua.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char *path;
  if (!path) {
    path = g_strdup_printf("/tmp/ph-fuzz-lua-%d.lua", (int)getpid());
    ph_lua_set_limits(32u << 20, 0.2);
  }
  if (!g_file_set_contents(path, (const char *)data, size, NULL))
    return 0;
  GError *err = NULL;
  ph_dag *d = ph_lua_load(path, PH_LUA_DIR, &err);
  g_clear_error(&err);
  ph_dag_free(d);
  return 0;
}
