/* putil -- small helpers the in-tree plugins share (a plugin may not link
 * host code, so these live here and are compiled into each plugin that
 * needs them). */
#ifndef PH_PUTIL_H
#define PH_PUTIL_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "pipehost/plugin.h"

/* Compact JSON text of node (caller frees).  Unlike json-glib's generator
 * it always writes valid JSON: a double as the shortest text that reads
 * back to it (1e+20, not "1e+20.0"), non-finite numbers as null. */
char *pu_json_text(JsonNode *node);

/* The shortest text that reads back to d (caller frees). */
char *pu_double_text(double d);

/* A param as a new JSON node (caller unrefs), or NULL when absent. */
JsonNode *pu_param_node(const ph_host *h, ph_task *t, const char *name);

/* curl_global_init, once per process; FALSE when it failed (for plugins
 * that link libcurl; defined in putil_curl.c). */
gboolean pu_curl_ready(void);

#endif
