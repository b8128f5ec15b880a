/* ph_fault -- see ph_fault.h. */
#include "ph_fault.h"

#ifdef PH_FAULT_INJECTION
#include <stdlib.h>
#include <string.h>

gboolean ph_fault_hit(const char *point) {
  static char *want;
  static long nth = -1, count;
  if (nth < 0) {
    const char *env = g_getenv("PIPEHOST_FAULT");
    const char *colon = env ? strchr(env, ':') : NULL;
    nth = colon ? strtol(colon + 1, NULL, 10) : 0;
    want = colon ? g_strndup(env, colon - env) : g_strdup("");
  }
  if (!nth || strcmp(point, want))
    return FALSE;
  return ++count == nth;
}
#endif
