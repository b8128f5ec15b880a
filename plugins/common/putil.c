/* putil -- see putil.h. */
#include "putil.h"

#include <math.h>
#include <string.h>

char *pu_double_text(double d) {
  char buf[G_ASCII_DTOSTR_BUF_SIZE];
  for (int prec = 1; prec <= 17; prec++) {
    char fmt[8];
    g_snprintf(fmt, sizeof fmt, "%%.%dg", prec);
    g_ascii_formatd(buf, sizeof buf, fmt, d);
    if (g_ascii_strtod(buf, NULL) == d)
      break;
  }
  return g_strdup(buf);
}

static void put_string(GString *out, const char *s) {
  g_string_append_c(out, '"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\')
      g_string_append_printf(out, "\\%c", *p);
    else if (*p == '\n')
      g_string_append(out, "\\n");
    else if (*p == '\r')
      g_string_append(out, "\\r");
    else if (*p == '\t')
      g_string_append(out, "\\t");
    else if (*p < 0x20)
      g_string_append_printf(out, "\\u%04x", *p);
    else
      g_string_append_c(out, (char)*p);
  }
  g_string_append_c(out, '"');
}

static void put(GString *out, JsonNode *n) {
  if (!n || JSON_NODE_HOLDS_NULL(n)) {
    g_string_append(out, "null");
  } else if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    GList *ms = json_object_get_members(o);
    g_string_append_c(out, '{');
    for (GList *l = ms; l; l = l->next) {
      if (l != ms)
        g_string_append_c(out, ',');
      put_string(out, l->data);
      g_string_append_c(out, ':');
      put(out, json_object_get_member(o, l->data));
    }
    g_string_append_c(out, '}');
    g_list_free(ms);
  } else if (JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    g_string_append_c(out, '[');
    for (guint i = 0; i < json_array_get_length(a); i++) {
      if (i)
        g_string_append_c(out, ',');
      put(out, json_array_get_element(a, i));
    }
    g_string_append_c(out, ']');
  } else {
    GType t = json_node_get_value_type(n);
    if (t == G_TYPE_STRING) {
      put_string(out, json_node_get_string(n));
    } else if (t == G_TYPE_BOOLEAN) {
      g_string_append(out, json_node_get_boolean(n) ? "true" : "false");
    } else if (t == G_TYPE_INT64) {
      g_string_append_printf(out, "%" G_GINT64_FORMAT, json_node_get_int(n));
    } else {
      double d = json_node_get_double(n);
      if (!isfinite(d)) {
        g_string_append(out, "null");
      } else {
        char *txt = pu_double_text(d);
        g_string_append(out, txt);
        if (!strpbrk(txt, ".e"))
          g_string_append(out, ".0");
        g_free(txt);
      }
    }
  }
}

char *pu_json_text(JsonNode *node) {
  GString *out = g_string_new(NULL);
  put(out, node);
  return g_string_free(out, FALSE);
}

JsonNode *pu_param_node(const ph_host *h, ph_task *t, const char *name) {
  const char *txt = h->param_json(t, name);
  return txt ? json_from_string(txt, NULL) : NULL;
}
