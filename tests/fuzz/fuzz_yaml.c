/* libFuzzer target: the YAML DAG loader must never crash or leak on any
 * input; it returns a model or a clean error. */
#include <glib.h>
#include <stdint.h>
#include <unistd.h>

#include "ph_dag.h"
#include "ph_yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char *path;
  if (!path)
    path = g_strdup_printf("/tmp/ph-fuzz-yaml-%d.yaml", (int)getpid());
  if (!g_file_set_contents(path, (const char *)data, size, NULL))
    return 0;
  GError *err = NULL;
  ph_dag *d = ph_yaml_load(path, &err);
  g_clear_error(&err);
  ph_dag_free(d);
  return 0;
}
