/* ph_yaml -- the YAML DAG loader.  See ph_yaml.h.
 *
 * libyaml's event API, not its document API: the document API builds the
 * whole file as a node tree before anything reads it (for a 100,000-task
 * DAG that tree was most of the memory pipehost ever used).  Here each
 * top-level entry (the dag section, each task) is built as a small tree,
 * turned into the DAG model and freed before the next one is read.
 * Anchors and aliases work across the file; an alias expansion that would
 * grow without bound (a "billion laughs" file) is refused. */
#include "ph_yaml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64
#define MAX_BYTES (16 << 20)
#define MAX_EXPANDED 100000 /* values made from aliased nodes, all told */

/* One YAML node of the entry being loaded.  Shared (refs) when an alias
 * points at it. */
typedef struct ynode {
  yaml_node_type_t type;
  int line;
  char *value;      /* scalar */
  gboolean plain;   /* a plain (unquoted) scalar */
  GPtrArray *items; /* sequence: items; mapping: key, value, key, ... */
  int refs;
} ynode;

static void ynode_unref(ynode *n) {
  if (!n || --n->refs > 0)
    return;
  g_free(n->value);
  if (n->items)
    g_ptr_array_unref(n->items);
  g_free(n);
}

static int line_of(const ynode *n) { return n->line; }


/* Plain scalars follow the YAML 1.2 core schema; quoted ones are strings. */
static JsonNode *scalar_json(const ynode *n) {
  const char *v = n->value;
  JsonNode *j = json_node_new(JSON_NODE_VALUE);
  if (!n->plain) {
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
  yaml_parser_t *parser;
  ph_dag *dag;
  const char *file;
  GHashTable *anchors; /* name -> ynode (a reference) */
  GError **error;      /* set on a syntax error */
  gboolean failed;
  gint64 expanded;     /* JSON nodes made so far */
} ctx_t;

/* The next event, or FALSE (error set) on a syntax error. */
static gboolean next_event(ctx_t *c, yaml_event_t *ev) {
  if (c->failed)
    return FALSE;
  if (!yaml_parser_parse(c->parser, ev)) {
    g_set_error(c->error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s:%zu:%zu: %s%s%s", c->file,
                c->parser->problem_mark.line + 1,
                c->parser->problem_mark.column + 1,
                c->parser->problem ? c->parser->problem : "syntax error",
                c->parser->context ? " " : "",
                c->parser->context ? c->parser->context : "");
    c->failed = TRUE;
    return FALSE;
  }
  return TRUE;
}

static void remember(ctx_t *c, const yaml_char_t *anchor, ynode *n) {
  if (!anchor)
    return;
  n->refs++;
  g_hash_table_replace(c->anchors, g_strdup((const char *)anchor), n);
}

/* Builds the node that starts with event ev (consumed); NULL on a syntax
 * error. */
static ynode *build(ctx_t *c, yaml_event_t *ev, int depth) {
  ynode *n = NULL;
  if (ev->type == YAML_ALIAS_EVENT) {
    n = g_hash_table_lookup(c->anchors, (const char *)ev->data.alias.anchor);
    if (n) {
      n->refs++;
    } else {
      ph_dag_add_error(c->dag, (int)ev->start_mark.line + 1, 0,
                       "alias *%s names no anchor", ev->data.alias.anchor);
      n = g_new0(ynode, 1);
      n->type = YAML_SCALAR_NODE;
      n->plain = TRUE;
      n->value = g_strdup("");
      n->refs = 1;
      n->line = (int)ev->start_mark.line + 1;
    }
    yaml_event_delete(ev);
    return n;
  }
  n = g_new0(ynode, 1);
  n->refs = 1;
  n->line = (int)ev->start_mark.line + 1;
  if (ev->type == YAML_SCALAR_EVENT) {
    n->type = YAML_SCALAR_NODE;
    n->value = g_strndup((const char *)ev->data.scalar.value,
                         ev->data.scalar.length);
    n->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    remember(c, ev->data.scalar.anchor, n);
    yaml_event_delete(ev);
    return n;
  }
  gboolean seq = ev->type == YAML_SEQUENCE_START_EVENT;
  yaml_event_type_t end = seq ? YAML_SEQUENCE_END_EVENT : YAML_MAPPING_END_EVENT;
  n->type = seq ? YAML_SEQUENCE_NODE : YAML_MAPPING_NODE;
  n->items = g_ptr_array_new_with_free_func((GDestroyNotify)ynode_unref);
  remember(c, seq ? ev->data.sequence_start.anchor
                  : ev->data.mapping_start.anchor,
           n);
  yaml_event_delete(ev);
  if (depth > MAX_DEPTH * 4) {
    /* far past the limit to_json reports: stop before the C stack does */
    g_set_error(c->error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s:%d: nesting deeper than %d levels; flatten the value",
                c->file, n->line, MAX_DEPTH);
    c->failed = TRUE;
    ynode_unref(n);
    return NULL;
  }
  for (;;) {
    yaml_event_t e;
    if (!next_event(c, &e)) {
      ynode_unref(n);
      return NULL;
    }
    if (e.type == end) {
      yaml_event_delete(&e);
      break;
    }
    ynode *child = build(c, &e, depth + 1);
    if (!child) {
      ynode_unref(n);
      return NULL;
    }
    g_ptr_array_add(n->items, child);
  }
  return n;
}

static JsonNode *to_json_in(ctx_t *c, ynode *n, int depth, gboolean shared);

static JsonNode *to_json(ctx_t *c, ynode *n, int depth) {
  return to_json_in(c, n, depth, FALSE);
}

/* shared: n is reached through an alias (or is an anchored node); only
 * those count towards MAX_EXPANDED. */
static JsonNode *to_json_in(ctx_t *c, ynode *n, int depth, gboolean shared) {
  shared = shared || n->refs > 1;
  if (depth > MAX_DEPTH) {
    ph_dag_add_error(c->dag, line_of(n), 0,
                     "nesting deeper than %d levels; flatten the value",
                     MAX_DEPTH);
    return json_node_new(JSON_NODE_NULL);
  }
  if (shared && ++c->expanded > MAX_EXPANDED) {
    if (c->expanded == MAX_EXPANDED + 1)
      ph_dag_add_error(c->dag, line_of(n), 0,
                       "aliases expand to more than %d values (an alias "
                       "bomb?); use fewer nested aliases",
                       MAX_EXPANDED);
    return json_node_new(JSON_NODE_NULL);
  }
  if (n->type == YAML_SCALAR_NODE)
    return scalar_json(n);
  if (n->type == YAML_SEQUENCE_NODE) {
    JsonArray *a = json_array_new();
    for (guint i = 0; i < n->items->len; i++)
      json_array_add_element(a,
                             to_json_in(c, n->items->pdata[i], depth + 1, shared));
    JsonNode *j = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(j, a);
    return j;
  }
  JsonObject *o = json_object_new();
  for (guint i = 0; i + 1 < n->items->len; i += 2) {
    ynode *k = n->items->pdata[i];
    if (k->type != YAML_SCALAR_NODE) {
      ph_dag_add_error(c->dag, line_of(k), 0, "mapping keys must be scalars");
      continue;
    }
    if (json_object_has_member(o, k->value))
      ph_dag_add_error(c->dag, line_of(k), 0, "duplicate key '%s'", k->value);
    json_object_set_member(
        o, k->value, to_json_in(c, n->items->pdata[i + 1], depth + 1, shared));
  }
  JsonNode *j = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(j, o);
  return j;
}

/* Iterates the pairs of a mapping node. */
#define FOR_PAIRS(map, kvar, vvar)                                             \
  for (guint kvar##_i = 0; kvar##_i + 1 < (map)->items->len; kvar##_i += 2)   \
    for (ynode *kvar = (map)->items->pdata[kvar##_i],                          \
               *vvar = (map)->items->pdata[kvar##_i + 1];                      \
         kvar; kvar = NULL)

static const char *key_str(ynode *k) {
  return k->type == YAML_SCALAR_NODE ? k->value : "";
}

static void load_dag_section(ctx_t *c, ynode *m) {
  if (m->type != YAML_MAPPING_NODE) {
    ph_dag_add_error(c->dag, line_of(m), 0,
                     "'dag' must be a mapping such as {id: my_dag}");
    return;
  }
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  FOR_PAIRS(m, k, v) {
    const char *ks = key_str(k);
    if (!g_hash_table_add(seen, (gpointer)ks))
      ph_dag_add_error(c->dag, line_of(k), 0, "duplicate key '%s'", ks);
    if (!strcmp(ks, "id")) {
      if (v->type != YAML_SCALAR_NODE || !*v->value)
        ph_dag_add_error(c->dag, line_of(v), 0, "dag id must be a string");
      else
        ph_dag_set_id(c->dag, v->value, line_of(k));
    } else if (!strcmp(ks, "default_args")) {
      if (v->type != YAML_MAPPING_NODE) {
        ph_dag_add_error(c->dag, line_of(v), 0,
                         "default_args must be a mapping");
        continue;
      }
      FOR_PAIRS(v, dk, dv) {
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

/* Loads task k: v; in a task group (its full id), the task's id is
 * "group.k" and the names in its upstream are looked up in the group
 * first. */
/* upstream: NAME or [NAME, ...] of task (or group) id, written in scope
 * group (NULL: the DAG). */
static void load_upstream(ctx_t *c, ynode *tv, const char *id,
                          const char *group, const char *what) {
  if (tv->type == YAML_SCALAR_NODE) {
    ph_dag_add_edge_in(c->dag, tv->value, id, line_of(tv), group);
  } else if (tv->type == YAML_SEQUENCE_NODE) {
    for (guint ui = 0; ui < tv->items->len; ui++) {
      ynode *u = tv->items->pdata[ui];
      if (u->type != YAML_SCALAR_NODE)
        ph_dag_add_error(c->dag, line_of(u), 0,
                         "%s '%s': upstream entries must be task ids", what,
                         id);
      else
        ph_dag_add_edge_in(c->dag, u->value, id, line_of(u), group);
    }
  } else {
    ph_dag_add_error(c->dag, line_of(tv), 0,
                     "%s '%s': upstream must be a task id or a list of them",
                     what, id);
  }
}

static void load_task(ctx_t *c, ynode *k, ynode *v, const char *group) {
  g_autofree char *full =
      group ? g_strconcat(group, ".", key_str(k), NULL) : g_strdup(key_str(k));
  const char *id = full;
  ph_dag_task *t = ph_dag_add_task(c->dag, id, line_of(k));
  if (!t)
    return;
  ph_dag_task_set_group(t, group);
  if (v->type != YAML_MAPPING_NODE) {
    ph_dag_add_error(c->dag, line_of(v), 0,
                     "task '%s' must be a mapping such as {op: bash, command: "
                     "\"echo hi\"}",
                     id);
    return;
  }
  GHashTable *seen = g_hash_table_new(g_str_hash, g_str_equal);
  FOR_PAIRS(v, tk, tv) {
    const char *ks = key_str(tk);
    if (!g_hash_table_add(seen, (gpointer)ks))
      ph_dag_add_error(c->dag, line_of(tk), 0, "task '%s': duplicate key '%s'",
                       id, ks);
    if (!strcmp(ks, "op")) {
      if (tv->type != YAML_SCALAR_NODE)
        ph_dag_add_error(c->dag, line_of(tv), 0, "task '%s': op must be a name",
                         id);
      else
        ph_dag_task_set_op(t, tv->value,
                           line_of(tk));
    } else if (!strcmp(ks, "upstream")) {
      load_upstream(c, tv, id, group, "task");
    } else {
      ph_dag_task_set_arg(t, ks, to_json(c, tv, 1), line_of(tk));
    }
  }
  g_hash_table_unref(seen);
  if (!ph_dag_task_get_op(t))
    ph_dag_add_error(c->dag, line_of(k), 0, "task '%s' has no 'op'", id);
}

/* groups: {ID: {tasks: {...}, groups: {...}, default_args: {...},
 * upstream: [...], tooltip: TEXT}}, inside group parent (NULL: the DAG):
 * Airflow's TaskGroup, whose tasks' ids are prefixed "ID.". */
static void load_groups(ctx_t *c, ynode *v, const char *parent) {
  if (v->type != YAML_MAPPING_NODE) {
    ph_dag_add_error(c->dag, line_of(v), 0,
                     "'groups' must be a mapping of group id to group, e.g. "
                     "groups: {prep: {tasks: {clean: {op: bash, command: "
                     "\"true\"}}}}");
    return;
  }
  FOR_PAIRS(v, gk, gv) {
    g_autofree char *id = parent ? g_strconcat(parent, ".", key_str(gk), NULL)
                                 : g_strdup(key_str(gk));
    if (gv->type != YAML_MAPPING_NODE) {
      ph_dag_add_error(c->dag, line_of(gv), 0,
                       "group '%s' must be a mapping with 'tasks' (and "
                       "optionally groups, default_args, upstream)",
                       id);
      continue;
    }
    int gi = ph_dag_add_group(c->dag, id, parent, line_of(gk));
    if (gi < 0)
      continue;
    FOR_PAIRS(gv, k, x) {
      const char *ks = key_str(k);
      if (!strcmp(ks, "tasks") && x->type == YAML_MAPPING_NODE) {
        FOR_PAIRS(x, tk, tv) {
          if (tk->type != YAML_SCALAR_NODE)
            ph_dag_add_error(c->dag, line_of(tk), 0, "task ids must be names");
          else
            load_task(c, tk, tv, id);
        }
      } else if (!strcmp(ks, "groups")) {
        load_groups(c, x, id);
      } else if (!strcmp(ks, "default_args") && x->type == YAML_MAPPING_NODE) {
        JsonObject *defs = ph_dag_group_get_default_args(c->dag, (guint)gi);
        FOR_PAIRS(x, dk, dv)
        json_object_set_member(defs, key_str(dk), to_json(c, dv, 1));
      } else if (!strcmp(ks, "upstream")) {
        load_upstream(c, x, id, parent, "group");
      } else if (strcmp(ks, "tooltip")) {
        ph_dag_add_error(c->dag, line_of(k), 0,
                         "group '%s': unknown key '%s' (a group has tasks, "
                         "groups, default_args, upstream and tooltip)%s",
                         id, ks,
                         !strcmp(ks, "tasks") || !strcmp(ks, "default_args")
                             ? "; it must be a mapping"
                             : "");
      }
    }
  }
}

/* Reads the next node of the stream into *out (NULL at the end of the
 * enclosing mapping, i.e. on MAPPING_END).  FALSE on a syntax error. */
static gboolean next_node(ctx_t *c, ynode **out) {
  yaml_event_t ev;
  *out = NULL;
  if (!next_event(c, &ev))
    return FALSE;
  if (ev.type == YAML_MAPPING_END_EVENT) {
    yaml_event_delete(&ev);
    return TRUE;
  }
  *out = build(c, &ev, 0);
  return *out != NULL;
}

/* The tasks mapping, one task at a time; the first event (already read) is
 * its start. */
static gboolean load_tasks(ctx_t *c) {
  for (;;) {
    ynode *k = NULL, *v = NULL;
    if (!next_node(c, &k))
      return FALSE;
    if (!k)
      return TRUE;
    yaml_event_t ev;
    if (!next_event(c, &ev)) {
      ynode_unref(k);
      return FALSE;
    }
    v = build(c, &ev, 0);
    if (!v) {
      ynode_unref(k);
      return FALSE;
    }
    if (k->type != YAML_SCALAR_NODE)
      ph_dag_add_error(c->dag, line_of(k), 0, "task ids must be names");
    else
      load_task(c, k, v, NULL);
    ynode_unref(k);
    ynode_unref(v);
  }
}

ph_dag *ph_yaml_load(const char *file, GError **error) {
  gchar *text = NULL;
  gsize len = 0;
  yaml_parser_t parser;
  gboolean parser_ok = FALSE;
  ph_dag *dag = NULL;
  GError *err = NULL;
  GHashTable *anchors = g_hash_table_new_full(
      g_str_hash, g_str_equal, g_free, (GDestroyNotify)ynode_unref);
  ctx_t c = {&parser, NULL, file, anchors, error, FALSE, 0};
  yaml_event_t ev;
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
  dag = ph_dag_new(file, PH_DAG_YAML);
  c.dag = dag;
  /* STREAM_START, then DOCUMENT_START or (an empty file) STREAM_END */
  if (!next_event(&c, &ev))
    goto fail;
  yaml_event_delete(&ev);
  if (!next_event(&c, &ev))
    goto fail;
  yaml_event_type_t t = ev.type;
  yaml_event_delete(&ev);
  if (t != YAML_DOCUMENT_START_EVENT) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                "%s: empty DAG file; expected a mapping with 'dag' and "
                "'tasks'",
                file);
    goto fail;
  }
  if (!next_event(&c, &ev))
    goto fail;
  if (ev.type != YAML_MAPPING_START_EVENT) {
    ynode *root = build(&c, &ev, 0);
    if (!root)
      goto fail;
    ph_dag_add_error(dag, line_of(root), 0,
                     "expected a mapping with 'dag' and 'tasks' at the top");
    ynode_unref(root);
    goto out;
  }
  yaml_event_delete(&ev);
  gboolean have_dag = FALSE;
  for (;;) {
    ynode *k = NULL;
    if (!next_node(&c, &k))
      goto fail;
    if (!k)
      break;
    const char *ks = key_str(k);
    if (!strcmp(ks, "tasks")) {
      if (!next_event(&c, &ev)) {
        ynode_unref(k);
        goto fail;
      }
      if (ev.type == YAML_MAPPING_START_EVENT) {
        yaml_event_delete(&ev);
        if (!load_tasks(&c)) {
          ynode_unref(k);
          goto fail;
        }
      } else {
        ynode *v = build(&c, &ev, 0);
        if (!v) {
          ynode_unref(k);
          goto fail;
        }
        ph_dag_add_error(dag, line_of(v), 0,
                         "'tasks' must be a mapping of task id to task");
        ynode_unref(v);
      }
    } else {
      yaml_event_t ve;
      if (!next_event(&c, &ve)) {
        ynode_unref(k);
        goto fail;
      }
      ynode *v = build(&c, &ve, 0);
      if (!v) {
        ynode_unref(k);
        goto fail;
      }
      if (!strcmp(ks, "dag")) {
        have_dag = TRUE;
        load_dag_section(&c, v);
      } else if (!strcmp(ks, "groups")) {
        load_groups(&c, v, NULL);
      } else {
        ph_dag_add_error(dag, line_of(k), 0,
                         "unknown top-level key '%s'; a DAG file has 'dag', "
                         "'tasks' and 'groups'",
                         ks);
      }
      ynode_unref(v);
    }
    ynode_unref(k);
  }
  if (!have_dag)
    ph_dag_add_error(dag, 1, 0, "no 'dag' section; add dag: {id: NAME}");
  goto out;
fail:
  ph_dag_free(dag);
  dag = NULL;
out:
  if (parser_ok)
    yaml_parser_delete(&parser);
  g_hash_table_destroy(anchors);
  g_free(text);
  return dag;
}
