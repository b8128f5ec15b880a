/* ph_lua -- loads a Lua DAG file (the pipehost DSL) into a ph_dag. */
#ifndef PH_LUA_H
#define PH_LUA_H
#include "ph_dag.h"
/* Runs file in a fresh, limited Lua state with lua_dir on package.path and
 * returns the model (possibly carrying errors), or NULL with error set to
 * "FILE:LINE: message" when the file fails to load or run. */
ph_dag *ph_lua_load(const char *file, const char *lua_dir, GError **error);
/* Sets the load limits (memory in bytes, wall-clock seconds); 0 keeps the
 * default (256 MiB, 10 s). */
void ph_lua_set_limits(size_t mem_bytes, double seconds);
#endif
