/* ph_yaml -- the YAML DAG loader (libyaml document API).  See ph_yaml.h. */
#include "ph_yaml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define MAX_BYTES (16 << 20)

static int line_of(const yaml_node_t *n) { return (int)n->start_mark.line + 1; }

/* Plain scalars follow the YAML 1.2 core schema; quoted ones are strings. */
static JsonNode *scalar_json(const yaml_node_t *n) {
  const char *v = (const char *)n->data.scalar.value;
  JsonNode *j = json_node_new(JSON_NODE_VALUE);
  if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
    json_node_set_string(j, v);
    return j;
  }
  if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE")) {
    json_node_set_boolean(j, TRUE);
  } else if (!strcmp(v, "false") || !strcmp(v, "False") ||
             !strcmp(v, "FALSE")) {
    json_node_set_boolean(j, FALSE);
  } else if (!*v || !strcmp(v, "~") || !strcmp(v, "null") ||
             !strcmp(v, "Null") || !strcmp(v, "NULL")) {
    json_node_init_null(j);
  } else {
    char *end = NULL;
    errno = 0;
    gint64 i;
    if (g_str_has_prefix(v, "0x"))
      i = g_ascii_strtoll(v + 2, &end, 16);
    else if (g_str_has_prefix(v, "0o"))
      i = g_ascii_strtoll(v + 2, &end, 8);
    else
      i = g_ascii_strtoll(v, &end, 10);
    if (end && !*end && errno == 0 && end != v) {
      json_node_set_int(j, i);
      return j;
    }
    if (g_regex_match_simple("^[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?$",
                             v, 0, 0)) {
      json_node_set_double(j, g_ascii_strtod(v, NULL));
      return j;
    }
    json_node_set_string(j, v);
  }
  return j;
}

typedef struct {
  yaml_document_t *doc;
  ph_dag *dag;
} ctx_t;

static JsonNode *to_json(ctx_t *c, yaml_node_t *n, int depth) {
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
    const char *ks = (const char *)k->data.scalar.value;
    if (json_object_has_member(o, ks))
      ph_dag_add_error(c->dag, line_of(k), 0, "duplicate key '%s'", ks);
    json_object_set_member(
        o, ks, to_json(c, yaml_document_get_node(c->doc, p->value), depth + 1));
  }
  JsonNode *j = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(j, o);
  return j;
}

/* Iterates a mapping node: calls fn for each pair. */
#define FOR_PAIRS(c, map, kvar, vvar)                                          \
  for (yaml_node_pair_t *kvar##_p = (map)->data.mapping.pairs.start;           \
       kvar##_p < (map)->data.mapping.pairs.top; kvar##_p++)                   \
    for (yaml_node_t *kvar = yaml_document_get_node((c)->doc, kvar##_p->key),  \
                     *vvar = yaml_document_get_node((c)->doc, kvar##_p->value);\
         kvar; kvar = NULL)

static const char *key_str(yaml_node_t *k) {
  return k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
}

static void load_dag_section(ctx_t *c, yaml_node_t *m) {
  if (m->type != YAML_MAPPING_NODE) {
    ph_dag_add_error(c->dag, line_of(m), 0,
                     "'dag' must be a mapping such as {id: my_dag}");
    return;
  }
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  FOR_PAIRS(c, m, k, v) {
    const char *ks = key_str(k);
    if (!g_hash_table_add(seen, (gpointer)ks))
      ph_dag_add_error(c->dag, line_of(k), 0, "duplicate key '%s'", ks);
    if (!strcmp(ks, "id")) {
      if (v->type != YAML_SCALAR_NODE || !*(char *)v->data.scalar.value)
        ph_dag_add_error(c->dag, line_of(v), 0, "dag id must be a string");
      else
        ph_dag_set_id(c->dag, (const char *)v->data.scalar.value, line_of(k));
    } else if (!strcmp(ks, "default_args")) {
      if (v->type != YAML_MAPPING_NODE) {
        ph_dag_add_error(c->dag, line_of(v), 0,
                         "default_args must be a mapping");
        continue;
      }
      FOR_PAIRS(c, v, dk, dv) {
        const char *dks = key_str(dk);
        json_object_set_member(ph_dag_get_default_args(c->dag), dks,
                               to_json(c, dv, 2));
        g_autofree char *lk = g_strconcat("default_args.", dks, NULL);
        ph_dag_set_arg_line(c->dag, lk, line_of(dk));
      }
    } else {
      json_object_set_member(ph_dag_get_args(c->dag), ks, to_json(c, v, 1));
      ph_dag_set_arg_line(c->dag, ks, line_of(k));
    }
  }
  g_hash_table_unref(seen);
}

static void load_task(ctx_t *c, yaml_node_t *k, yaml_node_t *v) {
  const char *id = key_str(k);
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
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  FOR_PAIRS(c, v, tk, tv) {
    const char *ks = key_str(tk);
    if (!g_hash_table_add(seen, (gpointer)ks))
      ph_dag_add_error(c->dag, line_of(tk), 0, "task '%s': duplicate key '%s'",
                       id, ks);
    if (!strcmp(ks, "op")) {
      if (tv->type != YAML_SCALAR_NODE)
        ph_dag_add_error(c->dag, line_of(tv), 0, "task '%s': op must be a name",
                         id);
      else
        ph_dag_task_set_op(t, (const char *)tv->data.scalar.value,
                           line_of(tk));
    } else if (!strcmp(ks, "upstream")) {
      if (tv->type == YAML_SCALAR_NODE) {
        ph_dag_add_edge(c->dag, (const char *)tv->data.scalar.value, id,
                        line_of(tv));
      } else if (tv->type == YAML_SEQUENCE_NODE) {
        for (yaml_node_item_t *it = tv->data.sequence.items.start;
             it < tv->data.sequence.items.top; it++) {
          yaml_node_t *u = yaml_document_get_node(c->doc, *it);
          if (u->type != YAML_SCALAR_NODE)
            ph_dag_add_error(c->dag, line_of(u), 0,
                             "task '%s': upstream entries must be task ids", id);
          else
            ph_dag_add_edge(c->dag, (const char *)u->data.scalar.value, id,
                            line_of(u));
        }
      } else {
        ph_dag_add_error(c->dag, line_of(tv), 0,
                         "task '%s': upstream must be a task id or a list of "
                         "them",
                         id);
      }
    } else {
      ph_dag_task_set_arg(t, ks, to_json(c, tv, 1), line_of(tk));
    }
  }
  g_hash_table_unref(seen);
  if (!ph_dag_task_get_op(t))
    ph_dag_add_error(c->dag, line_of(k), 0, "task '%s' has no 'op'", id);
}

ph_dag *ph_yaml_load(const char *file, GError **error) {
  gchar *text = NULL;
  gsize len = 0;
  yaml_parser_t parser;
  yaml_document_t doc;
  gboolean parser_ok = FALSE, doc_ok = FALSE;
  ph_dag *dag = NULL;
  GError *err = NULL;
  if (!g_file_get_contents(file, &text, &len, &err)) {
    g_set_error(error, G_FILE_ERROR, err->code, "%s: %s", file, err->message);
    g_error_free(err);
    goto out;
  }
  if (len > MAX_BYTES) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: the DAG file is %zu bytes, over the %d MiB limit", file,
                (size_t)len, MAX_BYTES >> 20);
    goto out;
  }
  if (!g_utf8_validate(text, len, NULL)) {
    const char *bad = NULL;
    g_utf8_validate(text, len, &bad);
    int line = 1;
    for (const char *p = text; p < bad; p++)
      line += *p == '\n';
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s:%d: invalid UTF-8 (byte 0x%02x); save the file as UTF-8",
                file, line, (unsigned char)*bad);
    goto out;
  }
  yaml_parser_initialize(&parser);
  parser_ok = TRUE;
  yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
  if (!yaml_parser_load(&parser, &doc)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s:%zu:%zu: %s%s%s",
                file, parser.problem_mark.line + 1,
                parser.problem_mark.column + 1,
                parser.problem ? parser.problem : "syntax error",
                parser.context ? " " : "",
                parser.context ? parser.context : "");
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
  dag = ph_dag_new(file, PH_DAG_YAML);
  ctx_t c = {&doc, dag};
  if (root->type != YAML_MAPPING_NODE) {
    ph_dag_add_error(dag, line_of(root), 0,
                     "expected a mapping with 'dag' and 'tasks' at the top");
    goto out;
  }
  gboolean have_dag = FALSE;
  FOR_PAIRS(&c, root, k, v) {
    const char *ks = key_str(k);
    if (!strcmp(ks, "dag")) {
      have_dag = TRUE;
      load_dag_section(&c, v);
    } else if (!strcmp(ks, "tasks")) {
      if (v->type != YAML_MAPPING_NODE) {
        ph_dag_add_error(dag, line_of(v), 0,
                         "'tasks' must be a mapping of task id to task");
        continue;
      }
      FOR_PAIRS(&c, v, tk, tv) load_task(&c, tk, tv);
    } else {
      ph_dag_add_error(dag, line_of(k), 0,
                       "unknown top-level key '%s'; a DAG file has 'dag' and "
                       "'tasks'",
                       ks);
    }
  }
  if (!have_dag)
    ph_dag_add_error(dag, 1, 0, "no 'dag' section; add dag: {id: NAME}");
out:
  if (doc_ok)
    yaml_document_delete(&doc);
  if (parser_ok)
    yaml_parser_delete(&parser);
  g_free(text);
  return dag;
}
