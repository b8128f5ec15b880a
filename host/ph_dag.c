/* ph_dag -- the in-memory DAG model.  See ph_dag.h. */
#include "ph_dag.h"
#include "ph_util.h"

#include <stdarg.h>
#include <string.h>

struct ph_dag_task {
  char *id;
  int line;
  char *op;
  int op_line;
  JsonObject *args;
  GHashTable *arg_lines; /* key -> GINT_TO_POINTER(line) */
  char *group;           /* the innermost group it is in, or NULL */
};

typedef struct {
  char *up, *down;
  int line;
  char *scope; /* the group whose members the names may name, or NULL */
} ph_edge;

typedef struct {
  char *id, *parent;
  int line;
  JsonObject *default_args;
} ph_group;

struct ph_dag {
  char *file;
  int kind;
  char *id;
  int line;
  JsonObject *args;
  JsonObject *default_args;
  GHashTable *arg_lines;
  GPtrArray *tasks;    /* ph_dag_task*, owned */
  GHashTable *by_id;   /* id -> ph_dag_task*, borrowed */
  GArray *edges;       /* ph_edge */
  GArray *groups;      /* ph_group */
  GPtrArray *errors;   /* char*, owned */
};

static void task_free(gpointer p) {
  ph_dag_task *t = p;
  g_free(t->id);
  g_free(t->op);
  g_free(t->group);
  json_object_unref(t->args);
  g_hash_table_unref(t->arg_lines);
  g_free(t);
}

ph_dag *ph_dag_new(const char *file, int kind) {
  ph_dag *d = g_new0(ph_dag, 1);
  d->file = g_strdup(file);
  d->kind = kind;
  d->args = json_object_new();
  d->default_args = json_object_new();
  d->arg_lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  d->tasks = g_ptr_array_new_with_free_func(task_free);
  d->by_id = g_hash_table_new(g_str_hash, g_str_equal);
  d->edges = g_array_new(FALSE, FALSE, sizeof(ph_edge));
  d->groups = g_array_new(FALSE, FALSE, sizeof(ph_group));
  d->errors = g_ptr_array_new_with_free_func(g_free);
  return d;
}

void ph_dag_free(ph_dag *d) {
  if (!d)
    return;
  for (guint i = 0; i < d->edges->len; i++) {
    ph_edge *e = &g_array_index(d->edges, ph_edge, i);
    g_free(e->up);
    g_free(e->down);
    g_free(e->scope);
  }
  g_array_free(d->edges, TRUE);
  for (guint i = 0; i < d->groups->len; i++) {
    ph_group *g = &g_array_index(d->groups, ph_group, i);
    g_free(g->id);
    g_free(g->parent);
    json_object_unref(g->default_args);
  }
  g_array_free(d->groups, TRUE);
  g_hash_table_unref(d->by_id);
  g_ptr_array_unref(d->tasks);
  g_ptr_array_unref(d->errors);
  g_hash_table_unref(d->arg_lines);
  json_object_unref(d->args);
  json_object_unref(d->default_args);
  g_free(d->id);
  g_free(d->file);
  g_free(d);
}

void ph_dag_set_id(ph_dag *d, const char *id, int line) {
  g_autofree char *bad = ph_util_id_problem(PH_ID_DAG, id);
  if (bad)
    ph_dag_add_error(d, line, 0, "%s", bad);
  g_free(d->id);
  d->id = g_strdup(id);
  d->line = line;
}

const char *ph_dag_get_id(const ph_dag *d) { return d->id; }
int ph_dag_get_line(const ph_dag *d) { return d->line; }
const char *ph_dag_get_file(const ph_dag *d) { return d->file; }
int ph_dag_get_kind(const ph_dag *d) { return d->kind; }
JsonObject *ph_dag_get_args(ph_dag *d) { return d->args; }
JsonObject *ph_dag_get_default_args(ph_dag *d) { return d->default_args; }

void ph_dag_set_arg_line(ph_dag *d, const char *key, int line) {
  g_hash_table_replace(d->arg_lines, g_strdup(key), GINT_TO_POINTER(line));
}

int ph_dag_get_arg_line(const ph_dag *d, const char *key) {
  gpointer v = g_hash_table_lookup(d->arg_lines, key);
  return v ? GPOINTER_TO_INT(v) : d->line;
}

ph_dag_task *ph_dag_add_task(ph_dag *d, const char *task_id, int line) {
  g_autofree char *bad = ph_util_id_problem(PH_ID_TASK, task_id);
  if (bad) {
    ph_dag_add_error(d, line, 0, "%s", bad);
    return NULL;
  }
  ph_dag_task *old = g_hash_table_lookup(d->by_id, task_id);
  if (old) {
    ph_dag_add_error(d, line, 0,
                     "duplicate task id '%s' (first defined at line %d); "
                     "task ids must be unique within a DAG",
                     task_id, old->line);
    return NULL;
  }
  ph_dag_task *t = g_new0(ph_dag_task, 1);
  t->id = g_strdup(task_id);
  t->line = line;
  t->args = json_object_new();
  t->arg_lines = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_ptr_array_add(d->tasks, t);
  g_hash_table_insert(d->by_id, t->id, t);
  return t;
}

guint ph_dag_n_tasks(const ph_dag *d) { return d->tasks->len; }

ph_dag_task *ph_dag_get_task(const ph_dag *d, guint i) {
  return g_ptr_array_index(d->tasks, i);
}

ph_dag_task *ph_dag_lookup(const ph_dag *d, const char *task_id) {
  return g_hash_table_lookup(d->by_id, task_id);
}

void ph_dag_add_edge(ph_dag *d, const char *up, const char *down, int line) {
  ph_dag_add_edge_in(d, up, down, line, NULL);
}

void ph_dag_add_edge_in(ph_dag *d, const char *up, const char *down, int line,
                        const char *scope) {
  ph_edge e = {g_strdup(up), g_strdup(down), line, g_strdup(scope)};
  g_array_append_val(d->edges, e);
}

const char *ph_dag_get_edge_scope(const ph_dag *d, guint i) {
  return g_array_index(d->edges, ph_edge, i).scope;
}

int ph_dag_add_group(ph_dag *d, const char *id, const char *parent,
                     int line) {
  g_autofree char *bad = ph_util_id_problem(PH_ID_TASK, id);
  if (bad) {
    ph_dag_add_error(d, line, 0, "group: %s", bad);
    return -1;
  }
  if (ph_dag_group_lookup(d, id) >= 0) {
    ph_dag_add_error(d, line, 0,
                     "duplicate group id '%s' (first defined at line %d)", id,
                     g_array_index(d->groups, ph_group,
                                   ph_dag_group_lookup(d, id))
                         .line);
    return -1;
  }
  ph_group g = {g_strdup(id), g_strdup(parent), line, json_object_new()};
  g_array_append_val(d->groups, g);
  return (int)d->groups->len - 1;
}

guint ph_dag_n_groups(const ph_dag *d) { return d->groups->len; }

int ph_dag_group_lookup(const ph_dag *d, const char *id) {
  for (guint i = 0; i < d->groups->len; i++)
    if (!strcmp(g_array_index(d->groups, ph_group, i).id, id))
      return (int)i;
  return -1;
}

const char *ph_dag_group_get_id(const ph_dag *d, guint i) {
  return g_array_index(d->groups, ph_group, i).id;
}

const char *ph_dag_group_get_parent(const ph_dag *d, guint i) {
  return g_array_index(d->groups, ph_group, i).parent;
}

int ph_dag_group_get_line(const ph_dag *d, guint i) {
  return g_array_index(d->groups, ph_group, i).line;
}

JsonObject *ph_dag_group_get_default_args(ph_dag *d, guint i) {
  return g_array_index(d->groups, ph_group, i).default_args;
}

guint ph_dag_n_edges(const ph_dag *d) { return d->edges->len; }

void ph_dag_get_edge(const ph_dag *d, guint i, const char **up,
                     const char **down, int *line) {
  ph_edge *e = &g_array_index(d->edges, ph_edge, i);
  if (up)
    *up = e->up;
  if (down)
    *down = e->down;
  if (line)
    *line = e->line;
}

void ph_dag_add_error(ph_dag *d, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  g_autofree char *msg = g_strdup_vprintf(fmt, ap);
  va_end(ap);
  char *full;
  if (line <= 0)
    full = g_strdup_printf("%s: %s", d->file, msg);
  else if (col > 0)
    full = g_strdup_printf("%s:%d:%d: %s", d->file, line, col, msg);
  else
    full = g_strdup_printf("%s:%d: %s", d->file, line, msg);
  g_ptr_array_add(d->errors, full);
}

guint ph_dag_n_errors(const ph_dag *d) { return d->errors->len; }

const char *ph_dag_get_error(const ph_dag *d, guint i) {
  return g_ptr_array_index(d->errors, i);
}

const char *ph_dag_task_get_id(const ph_dag_task *t) { return t->id; }

void ph_dag_task_set_group(ph_dag_task *t, const char *group) {
  g_free(t->group);
  t->group = g_strdup(group);
}

const char *ph_dag_task_get_group(const ph_dag_task *t) { return t->group; }
int ph_dag_task_get_line(const ph_dag_task *t) { return t->line; }

void ph_dag_task_set_op(ph_dag_task *t, const char *op, int line) {
  g_free(t->op);
  t->op = g_strdup(op);
  t->op_line = line;
}

const char *ph_dag_task_get_op(const ph_dag_task *t) { return t->op; }
int ph_dag_task_get_op_line(const ph_dag_task *t) {
  return t->op_line ? t->op_line : t->line;
}

void ph_dag_task_set_arg(ph_dag_task *t, const char *key, JsonNode *value,
                         int line) {
  json_object_set_member(t->args, key, value);
  g_hash_table_replace(t->arg_lines, g_strdup(key), GINT_TO_POINTER(line));
}

JsonObject *ph_dag_task_get_args(ph_dag_task *t) { return t->args; }

int ph_dag_task_get_arg_line(const ph_dag_task *t, const char *key) {
  gpointer v = g_hash_table_lookup(t->arg_lines, key);
  return v ? GPOINTER_TO_INT(v) : t->line;
}
