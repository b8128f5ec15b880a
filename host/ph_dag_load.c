/* ph_dag_load -- picks the loader by file extension.  See ph_dag.h. */
#include "ph_dag.h"

#include "ph_lua.h"
#include "ph_yaml.h"

ph_dag *ph_dag_load(const char *file, const char *lua_dir, GError **error) {
  if (g_str_has_suffix(file, ".yaml") || g_str_has_suffix(file, ".yml"))
    return ph_yaml_load(file, error);
  if (g_str_has_suffix(file, ".lua"))
    return ph_lua_load(file, lua_dir, error);
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
              "%s: unknown DAG file type (expected .lua, .yaml or .yml)", file);
  return NULL;
}
