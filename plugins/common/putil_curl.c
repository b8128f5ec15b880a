/* putil_curl -- see putil.h (pu_curl_ready). */
#include <curl/curl.h>

#include "putil.h"

gboolean pu_curl_ready(void) {
  static gsize ready;
  if (g_once_init_enter(&ready))
    g_once_init_leave(
        &ready, curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 1 : 2);
  return ready == 1;
}
