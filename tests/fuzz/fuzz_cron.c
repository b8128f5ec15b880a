/* libFuzzer target: the cron parser and next-time search never crash,
 * and a next time is always strictly after the start. */
#include <stdint.h>

#include "ph_cron.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *expr = g_strndup((const char *)data, size);
  ph_cron *c = ph_cron_parse(expr, NULL);
  if (c) {
    GDateTime *t = g_date_time_new_utc(2024, 2, 28, 23, 59, 30);
    GDateTime *n = ph_cron_next(c, t);
    if (n && g_date_time_compare(n, t) <= 0)
      __builtin_trap();
    if (n)
      g_date_time_unref(n);
    g_date_time_unref(t);
    ph_cron_free(c);
  }
  g_free(expr);
  return 0;
}
