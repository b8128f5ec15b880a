/* ph_yaml -- the YAML DAG loader (libyaml document API).  See ph_yaml.h.
 *
 * The file is read whole (after a size check), validated as UTF-8, parsed
 * into a libyaml document and walked: 'dag' fills the DAG's id, args and
 * default_args, 'tasks' one ph_dag_task per key.  Structure errors are
 * recorded on the model with their line; only unreadable or unparsable
 * files return NULL.  Hostile input is bounded: 16 MiB per file, 64
 * levels of nesting, and a budget on the values that aliases may add. */
#include "ph_yaml.h"

#include <glib/gstdio.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define MAX_BYTES (16 << 20)
/* values aliases may add beyond the document's own nodes */
#define MAX_ALIAS_EXTRA 1000000
/* libyaml's scanner costs O(flow depth) per token, so a file of nothing
 * but "[" takes minutes: deeper documents are refused before loading */
#define MAX_DOC_DEPTH (2 * MAX_DEPTH)

typedef struct {
  yaml_document_t *doc;
  ph_dag *dag;
  size_t budget; /* JSON values still allowed */
  gboolean over; /* budget exhausted (reported once) */
} ctx_t;

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

static const char *scalar(const yaml_node_t *n) {
  return (const char *)n->data.scalar.value;
}

/* Parses a YAML 1.2 core integer: [-+]?[0-9]+, 0x[0-9a-fA-F]+, 0o[0-7]+. */
static gboolean parse_int(const char *v, gint64 *out) {
  guint base = 10;
  const char *digits = v;
  gboolean neg = FALSE;
  if (v[0] == '0' && (v[1] == 'x' || v[1] == 'o')) {
    base = v[1] == 'x' ? 16 : 8;
    digits = v + 2;
  } else if (*v == '-' || *v == '+') {
    neg = *v == '-';
    digits = v + 1;
  }
  if (!*digits)
    return FALSE;
  for (const char *p = digits; *p; p++)
    if (!g_ascii_isxdigit(*p) || g_ascii_xdigit_value(*p) >= (int)base)
      return FALSE;
  guint64 u;
  if (!g_ascii_string_to_unsigned(digits, base, 0, G_MAXUINT64, &u, NULL))
    return FALSE;
  if (neg ? u > (guint64)G_MAXINT64 + 1 : u > (guint64)G_MAXINT64)
    return FALSE;
  *out = neg ? (gint64)(0 - u) : (gint64)u;
  return TRUE;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static gboolean is_float(const char *v) {
  const char *p = v;
  if (*p == '-' || *p == '+')
    p++;
  size_t ip = strspn(p, "0123456789");
  p += ip;
  size_t fp = 0;
  if (*p == '.') {
    p++;
    fp = strspn(p, "0123456789");
    p += fp;
  }
  if (!ip && !fp)
    return FALSE;
  if (*p == 'e' || *p == 'E') {
    p++;
    if (*p == '-' || *p == '+')
      p++;
    size_t ep = strspn(p, "0123456789");
    if (!ep)
      return FALSE;
    p += ep;
  }
  return *p == 0;
}

/* Plain scalars follow the YAML 1.2 core schema; quoted ones are strings.
 * .inf and .nan stay strings: JSON cannot hold them. */
static JsonNode *scalar_json(const yaml_node_t *n) {
  const char *v = scalar(n);
  JsonNode *j = json_node_new(JSON_NODE_VALUE);
  gint64 i;
  if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    json_node_set_string(j, v);
  else if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
    json_node_set_boolean(j, TRUE);
  else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
    json_node_set_boolean(j, FALSE);
  else if (!*v || !strcmp(v, "~") || !strcmp(v, "null") ||
           !strcmp(v, "Null") || !strcmp(v, "NULL"))
    json_node_init_null(j);
  else if (parse_int(v, &i))
    json_node_set_int(j, i);
  else if (is_float(v))
    json_node_set_double(j, g_ascii_strtod(v, NULL));
  else
    json_node_set_string(j, v);
  return j;
}

static JsonNode *to_json(ctx_t *c, yaml_node_t *n, int depth) {
  if (c->over)
    return json_node_new(JSON_NODE_NULL);
  if (c->budget == 0) {
    c->over = TRUE;
    ph_dag_add_error(c->dag, line_of(n), 0,
                     "aliases expand this file to more than %d extra values; "
                     "refusing to load it",
                     MAX_ALIAS_EXTRA);
    return json_node_new(JSON_NODE_NULL);
  }
  c->budget--;
  if (depth > MAX_DEPTH) {
    ph_dag_add_error(c->dag, line_of(n), 0,
                     "nesting deeper than %d levels; flatten the value",
                     MAX_DEPTH);
    return json_node_new(JSON_NODE_NULL);
  }
  if (n->type == YAML_SCALAR_NODE)
    return scalar_json(n);
  if (n->type == YAML_SEQUENCE_NODE) {
    JsonArray *a = json_array_new();
    for (yaml_node_item_t *it = n->data.sequence.items.start;
         it < n->data.sequence.items.top; it++)
      json_array_add_element(
          a, to_json(c, yaml_document_get_node(c->doc, *it), depth + 1));
    JsonNode *j = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(j, a);
    return j;
  }
  JsonObject *o = json_object_new();
  for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
       p < n->data.mapping.pairs.top; p++) {
    yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
    if (k->type != YAML_SCALAR_NODE) {
      ph_dag_add_error(c->dag, line_of(k), 0, "mapping keys must be scalars");
      continue;
    }
    if (json_object_has_member(o, scalar(k)))
      ph_dag_add_error(c->dag, line_of(k), 0, "duplicate key '%s'", scalar(k));
    json_object_set_member(
        o, scalar(k),
        to_json(c, yaml_document_get_node(c->doc, p->value), depth + 1));
  }
  JsonNode *j = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(j, o);
  return j;
}

/* Iterates the pairs of mapping node map, binding key node kvar and value
 * node vvar. */
#define FOR_PAIRS(c, map, kvar, vvar)                                          \
  for (yaml_node_pair_t *kvar##_p = (map)->data.mapping.pairs.start;           \
       kvar##_p < (map)->data.mapping.pairs.top; kvar##_p++)                   \
    for (yaml_node_t *kvar = yaml_document_get_node((c)->doc, kvar##_p->key),  \
                     *vvar =                                                   \
                         yaml_document_get_node((c)->doc, kvar##_p->value);    \
         kvar; kvar = NULL)

/* The key's text, or NULL (error recorded) for a non-scalar key.  Records
 * "duplicate key" when seen already holds it. */
static const char *key_of(ctx_t *c, yaml_node_t *k, GHashTable *seen,
                          const char *where) {
  if (k->type != YAML_SCALAR_NODE) {
    ph_dag_add_error(c->dag, line_of(k), 0, "%s: keys must be plain names",
                     where);
    return NULL;
  }
  const char *ks = scalar(k);
  if (seen && !g_hash_table_add(seen, (gpointer)ks)) {
    ph_dag_add_error(c->dag, line_of(k), 0, "%s: duplicate key '%s'", where,
                     ks);
    return NULL;
  }
  return ks;
}

static gboolean is_null(const yaml_node_t *n) {
  if (n->type != YAML_SCALAR_NODE ||
      n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
    return FALSE;
  const char *v = scalar(n);
  return !*v || !strcmp(v, "~") || !g_ascii_strcasecmp(v, "null");
}

static void load_default_args(ctx_t *c, yaml_node_t *v) {
  if (v->type != YAML_MAPPING_NODE) {
    ph_dag_add_error(c->dag, line_of(v), 0,
                     "default_args must be a mapping such as {retries: 1}");
    return;
  }
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  FOR_PAIRS(c, v, k, dv) {
    const char *ks = key_of(c, k, seen, "default_args");
    if (!ks)
      continue;
    json_object_set_member(ph_dag_get_default_args(c->dag), ks,
                           to_json(c, dv, 2));
    g_autofree char *lk = g_strconcat("default_args.", ks, NULL);
    ph_dag_set_arg_line(c->dag, lk, line_of(k));
  }
  g_hash_table_unref(seen);
}

static void load_dag_section(ctx_t *c, yaml_node_t *m) {
  if (m->type != YAML_MAPPING_NODE) {
    ph_dag_add_error(c->dag, line_of(m), 0,
                     "'dag' must be a mapping such as {id: my_dag}");
    return;
  }
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  FOR_PAIRS(c, m, k, v) {
    const char *ks = key_of(c, k, seen, "dag");
    if (!ks)
      continue;
    if (!strcmp(ks, "id")) {
      if (v->type != YAML_SCALAR_NODE || !*scalar(v))
        ph_dag_add_error(c->dag, line_of(v), 0, "dag id must be a string");
      else
        ph_dag_set_id(c->dag, scalar(v), line_of(k));
    } else if (!strcmp(ks, "default_args")) {
      load_default_args(c, v);
    } else {
      json_object_set_member(ph_dag_get_args(c->dag), ks, to_json(c, v, 1));
      ph_dag_set_arg_line(c->dag, ks, line_of(k));
    }
  }
  g_hash_table_unref(seen);
}

static void load_upstream(ctx_t *c, const char *id, yaml_node_t *v) {
  if (is_null(v))
    return;
  if (v->type == YAML_SCALAR_NODE) {
    ph_dag_add_edge(c->dag, scalar(v), id, line_of(v));
    return;
  }
  if (v->type != YAML_SEQUENCE_NODE) {
    ph_dag_add_error(c->dag, line_of(v), 0,
                     "task '%s': upstream must be a task id or a list of them",
                     id);
    return;
  }
  for (yaml_node_item_t *it = v->data.sequence.items.start;
       it < v->data.sequence.items.top; it++) {
    yaml_node_t *u = yaml_document_get_node(c->doc, *it);
    if (u->type != YAML_SCALAR_NODE)
      ph_dag_add_error(c->dag, line_of(u), 0,
                       "task '%s': upstream entries must be task ids", id);
    else
      ph_dag_add_edge(c->dag, scalar(u), id, line_of(u));
  }
}

static void load_task(ctx_t *c, yaml_node_t *k, yaml_node_t *v) {
  if (k->type != YAML_SCALAR_NODE || !*scalar(k)) {
    ph_dag_add_error(c->dag, line_of(k), 0,
                     "task ids must be non-empty names");
    return;
  }
  const char *id = scalar(k);
  ph_dag_task *t = ph_dag_add_task(c->dag, id, line_of(k));
  if (!t)
    return;
  if (v->type != YAML_MAPPING_NODE) {
    ph_dag_add_error(c->dag, line_of(v), 0,
                     "task '%s' must be a mapping such as {op: bash, command: "
                     "\"echo hi\"}",
                     id);
    return;
  }
  g_autofree char *where = g_strdup_printf("task '%s'", id);
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  FOR_PAIRS(c, v, tk, tv) {
    const char *ks = key_of(c, tk, seen, where);
    if (!ks)
      continue;
    if (!strcmp(ks, "op")) {
      if (tv->type != YAML_SCALAR_NODE || !*scalar(tv))
        ph_dag_add_error(c->dag, line_of(tv), 0,
                         "task '%s': op must be an operator name", id);
      else
        ph_dag_task_set_op(t, scalar(tv), line_of(tk));
    } else if (!strcmp(ks, "upstream")) {
      load_upstream(c, id, tv);
    } else {
      ph_dag_task_set_arg(t, ks, to_json(c, tv, 1), line_of(tk));
    }
  }
  if (!ph_dag_task_get_op(t) && !g_hash_table_contains(seen, "op"))
    ph_dag_add_error(c->dag, line_of(k), 0, "task '%s' has no 'op'", id);
  g_hash_table_unref(seen);
}

static void load_root(ctx_t *c, yaml_node_t *root) {
  if (root->type != YAML_MAPPING_NODE) {
    ph_dag_add_error(c->dag, line_of(root), 0,
                     "expected a mapping with 'dag' and 'tasks' at the top");
    return;
  }
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  FOR_PAIRS(c, root, k, v) {
    const char *ks = key_of(c, k, seen, "top level");
    if (!ks)
      continue;
    if (!strcmp(ks, "dag")) {
      load_dag_section(c, v);
    } else if (!strcmp(ks, "tasks")) {
      if (is_null(v))
        continue;
      if (v->type != YAML_MAPPING_NODE) {
        ph_dag_add_error(c->dag, line_of(v), 0,
                         "'tasks' must be a mapping of task id to task");
        continue;
      }
      FOR_PAIRS(c, v, tk, tv) load_task(c, tk, tv);
    } else {
      ph_dag_add_error(c->dag, line_of(k), 0,
                       "unknown top-level key '%s'; a DAG file has 'dag' and "
                       "'tasks'",
                       ks);
    }
  }
  if (!g_hash_table_contains(seen, "dag"))
    ph_dag_add_error(c->dag, 1, 0, "no 'dag' section; add dag: {id: NAME}");
  g_hash_table_unref(seen);
}

/* TRUE when the document nests deeper than MAX_DOC_DEPTH (error set to
 * "FILE:LINE:COL: nesting ...").  Parse errors are left to the loader. */
static gboolean too_deep(const char *file, const char *text, size_t len,
                         GError **error) {
  /* flow depth is at most the number of opening brackets */
  size_t opens = 0;
  for (size_t i = 0; i < len && opens <= MAX_DOC_DEPTH; i++)
    opens += text[i] == '[' || text[i] == '{';
  if (opens <= MAX_DOC_DEPTH)
    return FALSE;
  yaml_parser_t p;
  yaml_event_t ev;
  int depth = 0;
  gboolean deep = FALSE, done = FALSE;
  yaml_parser_initialize(&p);
  yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
  while (!done && !deep && yaml_parser_parse(&p, &ev)) {
    if (ev.type == YAML_SEQUENCE_START_EVENT ||
        ev.type == YAML_MAPPING_START_EVENT)
      deep = ++depth > MAX_DOC_DEPTH;
    else if (ev.type == YAML_SEQUENCE_END_EVENT ||
             ev.type == YAML_MAPPING_END_EVENT)
      depth--;
    done = ev.type == YAML_STREAM_END_EVENT;
    if (deep)
      g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                  "%s:%zu:%zu: nesting deeper than %d levels; flatten the "
                  "value",
                  file, ev.start_mark.line + 1, ev.start_mark.column + 1,
                  MAX_DEPTH);
    yaml_event_delete(&ev);
  }
  yaml_parser_delete(&p);
  return deep;
}

/* Sets error from the parser's state: "FILE:LINE:COL: problem context". */
static void parse_error(GError **error, const char *file, yaml_parser_t *p,
                        const char *text, size_t len) {
  size_t line = p->problem_mark.line, col = p->problem_mark.column;
  if (p->error == YAML_READER_ERROR) {
    /* reader errors carry a byte offset, not a mark */
    line = col = 0;
    for (size_t i = 0; i < p->problem_offset && i < len; i++) {
      if (text[i] == '\n') {
        line++;
        col = 0;
      } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
        col++;
      }
    }
  }
  const char *problem = p->problem ? p->problem : "cannot parse the file";
  if (p->error == YAML_MEMORY_ERROR)
    problem = "out of memory while parsing";
  g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s:%zu:%zu: %s%s%s",
              file, line + 1, col + 1, problem, p->context ? " " : "",
              p->context ? p->context : "");
}

ph_dag *ph_yaml_load(const char *file, GError **error) {
  gchar *text = NULL;
  gsize len = 0;
  yaml_parser_t parser;
  yaml_document_t doc, extra;
  gboolean parser_ok = FALSE, doc_ok = FALSE;
  ph_dag *dag = NULL;
  GError *err = NULL;
  GStatBuf st;
  if (g_stat(file, &st) == 0 && st.st_size > MAX_BYTES) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: the DAG file is %lld bytes, over the 16 MiB limit", file,
                (long long)st.st_size);
    goto out;
  }
  if (!g_file_get_contents(file, &text, &len, &err)) {
    g_set_error(error, G_FILE_ERROR, err->code, "%s: %s", file, err->message);
    g_error_free(err);
    goto out;
  }
  if (len > MAX_BYTES) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: the DAG file is %zu bytes, over the 16 MiB limit", file,
                (size_t)len);
    goto out;
  }
  const char *bad = NULL;
  if (!g_utf8_validate(text, len, &bad)) {
    int line = 1;
    for (const char *p = text; p < bad; p++)
      line += *p == '\n';
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s:%d: invalid UTF-8 (byte 0x%02x at offset %td); save the "
                "file as UTF-8",
                file, line, (unsigned char)*bad, bad - text);
    goto out;
  }
  if (too_deep(file, text, len, error))
    goto out;
  yaml_parser_initialize(&parser);
  parser_ok = TRUE;
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    parse_error(error, file, &parser, text, len);
    goto out;
  }
  doc_ok = TRUE;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: empty DAG file; expected a mapping with 'dag' and "
                "'tasks'",
                file);
    goto out;
  }
  /* the whole file must parse, and hold one document */
  if (!yaml_parser_load(&parser, &extra)) {
    parse_error(error, file, &parser, text, len);
    goto out;
  }
  yaml_node_t *second = yaml_document_get_root_node(&extra);
  int second_line = second ? line_of(second) : 0;
  yaml_document_delete(&extra);
  dag = ph_dag_new(file, PH_DAG_YAML);
  size_t n_nodes = (size_t)(doc.nodes.top - doc.nodes.start);
  ctx_t c = {&doc, dag, n_nodes + MAX_ALIAS_EXTRA, FALSE};
  load_root(&c, root);
  if (second_line)
    ph_dag_add_error(dag, second_line, 0,
                     "a second YAML document; a DAG file holds one");
out:
  if (doc_ok)
    yaml_document_delete(&doc);
  if (parser_ok)
    yaml_parser_delete(&parser);
  g_free(text);
  return dag;
}
