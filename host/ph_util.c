/* ph_util -- see ph_util.h. */
#include "ph_util.h"

#include <math.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

char *ph_util_stat_identity(const struct stat *st) {
  return g_strdup_printf("%lu %lu %lld %lld.%09ld %lld.%09ld",
                         (unsigned long)st->st_dev, (unsigned long)st->st_ino,
                         (long long)st->st_size, (long long)st->st_mtim.tv_sec,
                         st->st_mtim.tv_nsec, (long long)st->st_ctim.tv_sec,
                         st->st_ctim.tv_nsec);
}

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

char *ph_util_log_line(const char *level, const char *msg) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  char ts[32];
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return g_strdup_printf("[%s] %s %s\n", ts, level, msg);
}

char *ph_util_json_write(JsonNode *node, ph_json_style style) {
  GString *out = g_string_new(NULL);
  ph_jsonw_append_node(out, node, style);
  return g_string_free(out, FALSE);
}

char *ph_util_json_dup(JsonNode *node) {
  return ph_util_json_write(node, PH_JSON_COMPACT);
}

char *ph_util_json_string_take(char *s) {
  if (!s)
    return NULL;
  JsonNode *n = json_node_new(JSON_NODE_VALUE);
  json_node_set_string(n, s);
  char *v = ph_util_json_dup(n);
  json_node_unref(n);
  g_free(s);
  return v;
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

char *ph_util_utf8_lossy(const char *text, gssize len, gboolean *was_valid) {
  if (len < 0)
    len = (gssize)strlen(text);
  const char *end = text + len, *p = text, *bad;
  gboolean valid = g_utf8_validate(text, len, &bad);
  if (was_valid)
    *was_valid = valid;
  if (valid)
    return g_strndup(text, len);
  GString *g = g_string_sized_new(len + 16);
  while (p < end) {
    if (!g_utf8_validate(p, end - p, &bad)) {
      g_string_append_len(g, p, bad - p);
      if (bad < end) {
        /* a NUL is not valid inside the text either */
        g_string_append_printf(g, "\\x%02x", (unsigned char)*bad);
        p = bad + 1;
      } else {
        p = end;
      }
    } else {
      g_string_append_len(g, p, end - p);
      p = end;
    }
  }
  return g_string_free(g, FALSE);
}

char *ph_util_id_problem(ph_id_kind kind, const char *id) {
  const char *what = kind == PH_ID_DAG    ? "DAG id"
                     : kind == PH_ID_TASK ? "task id"
                                          : "run id";
  const char *extra = kind == PH_ID_RUN ? "~:+" : "";
  size_t n = id ? strlen(id) : 0;
  if (n == 0)
    return g_strdup_printf("the %s is empty", what);
  if (n > 250)
    return g_strdup_printf("the %s is %zu characters long; at most 250 are "
                           "allowed",
                           what, n);
  if (!strcmp(id, ".") || !strcmp(id, ".."))
    return g_strdup_printf("'%s' is not a valid %s", id, what);
  if (kind == PH_ID_RUN && (!strcmp(id, "last") || !strcmp(id, "latest")))
    return g_strdup_printf("'%s' cannot be a run id: it names the newest run "
                           "in every command",
                           id);
  for (const char *p = id; *p; p++) {
    if (g_ascii_isalnum(*p) || strchr("_.-", *p) ||
        (*extra && strchr(extra, *p)))
      continue;
    GString *fix = g_string_new(NULL);
    for (const char *q = id; *q; q++)
      g_string_append_c(fix,
                        g_ascii_isalnum(*q) || strchr("_.-", *q) ? *q : '_');
    char *msg = g_strdup_printf(
        "%s '%s' has the character '%s%c' at position %d: %ss are letters, "
        "digits, '_', '.' and '-'%s (as in Airflow); for example '%s'",
        what, id,
        (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f ? "\\x" : "",
        (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f ? '?' : *p,
        (int)(p - id) + 1, what, kind == PH_ID_RUN ? ", '~', ':' and '+'" : "",
        fix->str);
    g_string_free(fix, TRUE);
    return msg;
  }
  return NULL;
}

gboolean ph_util_env_is_secret(const char *entry) {
  return g_str_has_prefix(entry, "PIPEHOST_CONN_") ||
         g_str_has_prefix(entry, "PIPEHOST_VAR_");
}

char *ph_util_printable(const char *text) {
  if (!text)
    return g_strdup("");
  GString *g = g_string_sized_new(strlen(text));
  for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
    if (*p < 0x20 || *p == 0x7f)
      g_string_append_printf(g, "\\x%02x", *p);
    else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) /* C1: U+0080-9F */
      g_string_append_printf(g, "\\x%02x", *++p);
    else
      g_string_append_c(g, (char)*p);
  }
  return g_string_free(g, FALSE);
}

char *ph_util_mask(const GPtrArray *secrets, const char *text) {
  if (!text)
    return NULL;
  GString *g = g_string_new(text);
  for (guint i = 0; secrets && i < secrets->len; i++)
    if (strlen(secrets->pdata[i]) >= 3)
      g_string_replace(g, secrets->pdata[i], "***", 0);
  return g_string_free(g, FALSE);
}

gboolean ph_util_name_is_sensitive(const char *name) {
  static const char *const words[] = {"access_token",  "api_key",     "apikey",
                                      "authorization", "passphrase",  "passwd",
                                      "password",      "private_key", "secret",
                                      "token",         NULL};
  g_autofree char *low = g_ascii_strdown(name ? name : "", -1);
  for (const char *const *w = words; *w; w++)
    if (strstr(low, *w))
      return TRUE;
  return FALSE;
}

char *ph_util_first_line(const char *text) {
  if (!text)
    return g_strdup("");
  const char *nl = strchr(text, '\n');
  char *line = nl ? g_strndup(text, (gsize)(nl - text)) : g_strdup(text);
  char *shown = ph_util_printable(line);
  g_free(line);
  return shown;
}
