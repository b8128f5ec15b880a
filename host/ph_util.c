/* ph_util -- see ph_util.h. */
#include "ph_util.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

gboolean ph_util_parse_duration(JsonNode *node, double *out) {
  if (!node || JSON_NODE_TYPE(node) != JSON_NODE_VALUE)
    return FALSE;
  GType t = json_node_get_value_type(node);
  double v;
  if (t == G_TYPE_INT64 || t == G_TYPE_DOUBLE) {
    v = json_node_get_double(node);
  } else if (t == G_TYPE_STRING) {
    const char *s = json_node_get_string(node);
    char *end = NULL;
    v = g_ascii_strtod(s, &end);
    if (end == s)
      return FALSE;
    double mul = 1;
    if (!strcmp(end, "") || !strcmp(end, "s"))
      mul = 1;
    else if (!strcmp(end, "ms"))
      mul = 0.001;
    else if (!strcmp(end, "m"))
      mul = 60;
    else if (!strcmp(end, "h"))
      mul = 3600;
    else if (!strcmp(end, "d"))
      mul = 86400;
    else
      return FALSE;
    v *= mul;
  } else {
    return FALSE;
  }
  if (!(v >= 0) || v > 1e12)
    return FALSE;
  *out = v;
  return TRUE;
}

gboolean ph_util_parse_size(JsonNode *node, double *out) {
  if (!node || !JSON_NODE_HOLDS_VALUE(node))
    return FALSE;
  GType t = json_node_get_value_type(node);
  double v;
  if (t == G_TYPE_INT64) {
    v = (double)json_node_get_int(node);
  } else if (t == G_TYPE_STRING) {
    const char *s = json_node_get_string(node);
    char *end = NULL;
    v = g_ascii_strtod(s, &end);
    if (end == s)
      return FALSE;
    if (!strcmp(end, "K") || !strcmp(end, "KiB"))
      v *= 1024;
    else if (!strcmp(end, "M") || !strcmp(end, "MiB"))
      v *= 1024 * 1024;
    else if (!strcmp(end, "G") || !strcmp(end, "GiB"))
      v *= 1024.0 * 1024 * 1024;
    else if (*end)
      return FALSE;
  } else {
    return FALSE;
  }
  if (!(v >= 1) || v > 1e18)
    return FALSE;
  *out = v;
  return TRUE;
}

guint ph_util_edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  guint *row = g_new(guint, lb + 1);
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    guint prev = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      guint cur = row[j];
      guint cost = a[i - 1] == b[j - 1] ? 0 : 1;
      guint best = MIN(row[j] + 1, row[j - 1] + 1);
      row[j] = MIN(best, prev + cost);
      prev = cur;
    }
  }
  guint d = row[lb];
  g_free(row);
  return d;
}

const char *ph_util_nearest(const char *word, const char *const *candidates) {
  const char *best = NULL;
  guint bestd = G_MAXUINT;
  for (size_t i = 0; candidates && candidates[i]; i++) {
    guint d = ph_util_edit_distance(word, candidates[i]);
    if (d < bestd) {
      bestd = d;
      best = candidates[i];
    }
  }
  size_t len = strlen(word);
  guint limit = len <= 3 ? 1 : len <= 6 ? 2 : 3;
  return bestd <= limit ? best : NULL;
}

double ph_util_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

double ph_util_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

char *ph_util_iso8601(double t) {
  time_t s = (time_t)t;
  struct tm tm;
  gmtime_r(&s, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S+00:00", &tm);
  return g_strdup(buf);
}

char *ph_util_json_dup(JsonNode *node) {
  if (!node)
    return g_strdup("null");
  return json_to_string(node, FALSE);
}

JsonNode *ph_util_json_parse(const char *text, GError **error) {
  return json_from_string(text, error);
}

gboolean ph_util_json_falsy(JsonNode *node) {
  if (!node || JSON_NODE_HOLDS_NULL(node))
    return TRUE;
  if (JSON_NODE_HOLDS_OBJECT(node))
    return json_object_get_size(json_node_get_object(node)) == 0;
  if (JSON_NODE_HOLDS_ARRAY(node))
    return json_array_get_length(json_node_get_array(node)) == 0;
  GType t = json_node_get_value_type(node);
  if (t == G_TYPE_BOOLEAN)
    return !json_node_get_boolean(node);
  if (t == G_TYPE_INT64)
    return json_node_get_int(node) == 0;
  if (t == G_TYPE_DOUBLE)
    return json_node_get_double(node) == 0;
  if (t == G_TYPE_STRING)
    return json_node_get_string(node)[0] == '\0';
  return FALSE;
}
