/* libFuzzer target: the template renderer must never crash on any
 * template; errors come back as GError. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "ph_template.h"

static char *pull(const char *t, const char *k, void *u) {
  (void)k;
  (void)u;
  return strcmp(t, "a") ? NULL : g_strdup("{\"x\":[1,2,\"s\"]}");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *tmpl = g_strndup((const char *)data, size);
  GError *err = NULL;
  char *r = ph_template_render(
      tmpl, "{\"ds\":\"2024-01-01\",\"params\":{\"n\":1},\"ti\":{}}", pull,
      NULL, &err);
  g_free(r);
  g_clear_error(&err);
  g_free(tmpl);
  return 0;
}
