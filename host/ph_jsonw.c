/* ph_jsonw -- JSON text written as it is produced (see ph_jsonw.h). */
#include "ph_jsonw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void json_put_string(GString *out, const char *s) {
  g_string_append_c(out, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"':
      g_string_append(out, "\\\"");
      break;
    case '\\':
      g_string_append(out, "\\\\");
      break;
    case '\b':
      g_string_append(out, "\\b");
      break;
    case '\f':
      g_string_append(out, "\\f");
      break;
    case '\n':
      g_string_append(out, "\\n");
      break;
    case '\r':
      g_string_append(out, "\\r");
      break;
    case '\t':
      g_string_append(out, "\\t");
      break;
    default:
      if (*p < 0x20)
        g_string_append_printf(out, "\\u%04x", *p);
      else
        g_string_append_c(out, (char)*p);
    }
  }
  g_string_append_c(out, '"');
}

static void json_put_double(GString *out, double d, ph_json_style style) {
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  if (!isfinite(d)) {
    g_string_append(out, "null");
    return;
  }
  if (style == PH_JSON_CANONICAL) {
    if (d == floor(d) && fabs(d) < 9007199254740992.0)
      g_string_append_printf(out, "%" G_GINT64_FORMAT, (gint64)d);
    else
      g_string_append(out, g_ascii_formatd(buf, sizeof buf, "%.17g", d));
    return;
  }
  /* Python's repr: the fewest significant digits that read back to the
   * same double, in fixed notation when the exponent is -4 to 15, else in
   * scientific; integral values keep ".0" (10.0, never 1e+01) */
  int prec = 1;
  for (; prec <= 17; prec++) {
    char fmt[8];
    g_snprintf(fmt, sizeof fmt, "%%.%de", prec - 1);
    g_ascii_formatd(buf, sizeof buf, fmt, d);
    if (g_ascii_strtod(buf, NULL) == d)
      break;
  }
  const char *e = strchr(buf, 'e');
  int exp = e ? atoi(e + 1) : 0;
  if (exp >= -4 && exp < 16) {
    char fmt[8];
    g_snprintf(fmt, sizeof fmt, "%%.%df", MAX(prec - 1 - exp, 0));
    g_ascii_formatd(buf, sizeof buf, fmt, d);
    g_string_append(out, buf);
    if (!strchr(buf, '.')) /* keep it a double when read back */
      g_string_append(out, ".0");
  } else {
    g_string_append(out, buf);
  }
}

static gint json_cmp_keys(gconstpointer a, gconstpointer b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void json_indent(GString *out, ph_json_style style, int depth) {
  if (style != PH_JSON_PRETTY)
    return;
  g_string_append_c(out, '\n');
  for (int i = 0; i < depth; i++)
    g_string_append(out, "  ");
}

static void json_put(GString *out, JsonNode *n, ph_json_style style,
                     int depth) {
  if (!n || JSON_NODE_HOLDS_NULL(n)) {
    g_string_append(out, "null");
  } else if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    GList *members = json_object_get_members(o);
    GPtrArray *keys = g_ptr_array_new();
    for (GList *l = members; l; l = l->next)
      g_ptr_array_add(keys, l->data);
    if (style == PH_JSON_CANONICAL)
      g_ptr_array_sort(keys, json_cmp_keys);
    g_string_append_c(out, '{');
    for (guint i = 0; i < keys->len; i++) {
      if (i)
        g_string_append_c(out, ',');
      json_indent(out, style, depth + 1);
      json_put_string(out, keys->pdata[i]);
      g_string_append(out, style == PH_JSON_PRETTY ? ": " : ":");
      json_put(out, json_object_get_member(o, keys->pdata[i]), style,
               depth + 1);
    }
    if (keys->len)
      json_indent(out, style, depth);
    g_string_append_c(out, '}');
    g_ptr_array_free(keys, TRUE);
    g_list_free(members);
  } else if (JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    guint len = json_array_get_length(a);
    g_string_append_c(out, '[');
    for (guint i = 0; i < len; i++) {
      if (i)
        g_string_append_c(out, ',');
      json_indent(out, style, depth + 1);
      json_put(out, json_array_get_element(a, i), style, depth + 1);
    }
    if (len)
      json_indent(out, style, depth);
    g_string_append_c(out, ']');
  } else {
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_STRING)
      json_put_string(out, json_node_get_string(n));
    else if (t == G_TYPE_BOOLEAN)
      g_string_append(out, json_node_get_boolean(n) ? "true" : "false");
    else if (t == G_TYPE_INT64)
      g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(n));
    else
      json_put_double(out, json_node_get_double(n), style);
  }
}

char *ph_jsonw_double_text(double d) {
  if (isnan(d))
    return g_strdup("nan");
  if (isinf(d))
    return g_strdup(d < 0 ? "-inf" : "inf");
  GString *out = g_string_new(NULL);
  json_put_double(out, d, PH_JSON_COMPACT);
  return g_string_free(out, FALSE);
}

void ph_jsonw_append_node(GString *out, JsonNode *node, ph_json_style style) {
  json_put(out, node, style, 0);
}

/* ---- the streaming writer */

#define DEPTH 64

struct ph_jsonw {
  GString *out;
  int depth;
  gboolean first[DEPTH]; /* nothing written yet at this level */
  gboolean after_key;
};

ph_jsonw *ph_jsonw_new(void) {
  ph_jsonw *w = g_new0(ph_jsonw, 1);
  w->out = g_string_sized_new(1024);
  w->first[0] = TRUE;
  return w;
}

char *ph_jsonw_free_to_text(ph_jsonw *w, gsize *len) {
  if (len)
    *len = w->out->len;
  char *text = g_string_free(w->out, FALSE);
  g_free(w);
  return text;
}

/* Before a value: the comma that separates it from the one before. */
static void sep(ph_jsonw *w) {
  if (w->after_key) {
    w->after_key = FALSE;
    return;
  }
  if (!w->first[w->depth])
    g_string_append_c(w->out, ',');
  w->first[w->depth] = FALSE;
}

static void open_level(ph_jsonw *w, char c) {
  sep(w);
  g_string_append_c(w->out, c);
  g_return_if_fail(w->depth + 1 < DEPTH);
  w->first[++w->depth] = TRUE;
}

static void close_level(ph_jsonw *w, char c) {
  g_return_if_fail(w->depth > 0);
  w->depth--;
  g_string_append_c(w->out, c);
}

void ph_jsonw_begin_object(ph_jsonw *w) { open_level(w, '{'); }
void ph_jsonw_end_object(ph_jsonw *w) { close_level(w, '}'); }
void ph_jsonw_begin_array(ph_jsonw *w) { open_level(w, '['); }
void ph_jsonw_end_array(ph_jsonw *w) { close_level(w, ']'); }

void ph_jsonw_key(ph_jsonw *w, const char *key) {
  sep(w);
  json_put_string(w->out, key);
  g_string_append_c(w->out, ':');
  w->after_key = TRUE;
}

void ph_jsonw_string(ph_jsonw *w, const char *s) {
  sep(w);
  if (s)
    json_put_string(w->out, s);
  else
    g_string_append(w->out, "null");
}

void ph_jsonw_int(ph_jsonw *w, gint64 v) {
  sep(w);
  g_string_append_printf(w->out, "%" G_GINT64_FORMAT, v);
}

void ph_jsonw_double(ph_jsonw *w, double v) {
  sep(w);
  json_put_double(w->out, v, PH_JSON_COMPACT);
}

void ph_jsonw_bool(ph_jsonw *w, gboolean v) {
  sep(w);
  g_string_append(w->out, v ? "true" : "false");
}

void ph_jsonw_null(ph_jsonw *w) {
  sep(w);
  g_string_append(w->out, "null");
}

void ph_jsonw_node(ph_jsonw *w, JsonNode *n) {
  sep(w);
  json_put(w->out, n, PH_JSON_COMPACT, 0);
}

void ph_jsonw_raw(ph_jsonw *w, const char *text) {
  sep(w);
  g_string_append(w->out, text);
}
