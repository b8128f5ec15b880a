/* cmd_graph -- `pipehost graph FILE`: the DAG as a Graphviz (dot) or
 * Mermaid graph.  A task group is one node unless --expand is given (as
 * Airflow's graph view shows a collapsed TaskGroup); then each group is a
 * cluster (dot) or a subgraph (Mermaid) around its tasks.  A mapped task
 * is drawn as a stack and labelled "[ ]", as in Airflow. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

/* Per node: its id, label and kind, in first-seen order. */
typedef struct {
  GPtrArray *ids;       /* char*, owned */
  GHashTable *index;    /* id -> position + 1 */
  GPtrArray *labels;    /* char*, owned */
  GArray *kinds;        /* int: 0 task, 1 mapped task, 2 group */
  GHashTable *edges;    /* "up\ndown" -> 1, to print each once */
  GPtrArray *edge_list; /* char* "up\ndown", in first-seen order (borrowed) */
} graph_t;

/* The node a task is drawn as: the task, or (collapsed) its outermost
 * group. */
static const char *node_of(ph_dag *dag, const ph_task_spec *t,
                           gboolean expand) {
  if (expand || !t->group)
    return t->id;
  int g = ph_dag_group_lookup(dag, t->group);
  while (g >= 0 && ph_dag_group_get_parent(dag, (guint)g))
    g = ph_dag_group_lookup(dag, ph_dag_group_get_parent(dag, (guint)g));
  return ph_dag_group_get_id(dag, (guint)g);
}

static void add_node(graph_t *gr, const char *id, char *label, int kind) {
  if (g_hash_table_contains(gr->index, id)) {
    g_free(label);
    return;
  }
  g_ptr_array_add(gr->ids, g_strdup(id));
  g_hash_table_insert(gr->index, gr->ids->pdata[gr->ids->len - 1],
                      GUINT_TO_POINTER(gr->ids->len));
  g_ptr_array_add(gr->labels, label);
  g_array_append_val(gr->kinds, kind);
}

/* A Mermaid node id: letters, digits and '_' only. */
static char *mermaid_id(const char *id) {
  char *m = g_strdup(id);
  for (char *c = m; *c; c++)
    if (!g_ascii_isalnum(*c) && *c != '_')
      *c = '_';
  return m;
}

/* Prints the tasks of group g (-1: the top level) and, nested, its
 * groups, as dot clusters or Mermaid subgraphs. */
static void print_level(const ph_plan *plan, ph_dag *dag, graph_t *gr, int g,
                        gboolean mermaid, int depth) {
  const char *gid = g >= 0 ? ph_dag_group_get_id(dag, (guint)g) : NULL;
  for (guint i = 0; i < ph_plan_n_tasks(plan); i++) {
    const ph_task_spec *t = ph_plan_get_task(plan, i);
    if (g_strcmp0(t->group, gid))
      continue;
    guint pos = GPOINTER_TO_UINT(g_hash_table_lookup(gr->index, t->id)) - 1;
    const char *label = gr->labels->pdata[pos];
    gboolean mapped = g_array_index(gr->kinds, int, pos) == 1;
    if (mermaid) {
      g_autofree char *mid = mermaid_id(t->id);
      printf("%*s%s%s\"%s\"%s\n", depth * 2, "", mid, mapped ? "[[" : "[",
             label, mapped ? "]]" : "]");
    } else {
      printf("%*s\"%s\" [label=\"%s\"%s];\n", depth * 2, "", t->id, label,
             mapped ? ", shape=box3d" : "");
    }
  }
  for (guint k = 0; k < ph_dag_n_groups(dag); k++) {
    if (g_strcmp0(ph_dag_group_get_parent(dag, k), gid))
      continue;
    const char *id = ph_dag_group_get_id(dag, k);
    if (mermaid) {
      g_autofree char *mid = mermaid_id(id);
      printf("%*ssubgraph %s[\"%s\"]\n", depth * 2, "", mid, id);
    } else {
      printf("%*ssubgraph \"cluster_%s\" {\n%*slabel=\"%s\";\n", depth * 2, "",
             id, depth * 2 + 2, "", id);
    }
    print_level(plan, dag, gr, (int)k, mermaid, depth + 1);
    printf("%*s%s\n", depth * 2, "", mermaid ? "end" : "}");
  }
}

int ph_cmd_graph(int argc, char **argv) {
  char *format = NULL;
  gboolean expand = FALSE;
  GOptionEntry e[] = {{"format", 'f', 0, G_OPTION_ARG_STRING, &format,
                       "dot (default) or mermaid", "FMT"},
                      {"expand", 'e', 0, G_OPTION_ARG_NONE, &expand,
                       "Show the tasks of task groups (default: one node per "
                       "group)",
                       NULL},
                      {0}};
  GOptionContext *ctx = g_option_context_new("FILE - print the DAG as a graph");
  g_option_context_add_main_entries(ctx, e, NULL);
  int rc = 2;
  ph_registry *reg = NULL;
  ph_dag *dag = NULL;
  ph_plan *plan = NULL;
  graph_t gr = {g_ptr_array_new_with_free_func(g_free),
                g_hash_table_new(g_str_hash, g_str_equal),
                g_ptr_array_new_with_free_func(g_free),
                g_array_new(FALSE, FALSE, sizeof(int)),
                g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL),
                g_ptr_array_new()};
  if (!ph_cmd_parse(ctx, &argc, &argv, 1, 1, "graph"))
    goto out;
  gboolean mermaid = format && !strcmp(format, "mermaid");
  if (format && !mermaid && strcmp(format, "dot")) {
    g_printerr("pipehost graph: --format must be dot or mermaid\n");
    goto out;
  }
  reg = ph_cmd_load_registry();
  plan = ph_cmd_load_plan(argv[1], reg, &dag);
  if (!plan)
    goto out;
  guint n = ph_plan_n_tasks(plan);
  /* nodes: tasks, or collapsed groups with their number of tasks */
  GHashTable *sizes = g_hash_table_new(g_str_hash, g_str_equal);
  for (guint i = 0; i < n; i++) {
    const char *node = node_of(dag, ph_plan_get_task(plan, i), expand);
    g_hash_table_insert(
        sizes, (gpointer)node,
        GUINT_TO_POINTER(GPOINTER_TO_UINT(g_hash_table_lookup(sizes, node)) +
                         1));
  }
  for (guint i = 0; i < n; i++) {
    const ph_task_spec *t = ph_plan_get_task(plan, i);
    const char *node = node_of(dag, t, expand);
    gboolean mapped = t->expand || t->expand_kwargs;
    if (strcmp(node, t->id))
      add_node(
          &gr, node,
          g_strdup_printf("%s%s(group, %u tasks)", node, mermaid ? " " : "\\n",
                          GPOINTER_TO_UINT(g_hash_table_lookup(sizes, node))),
          2);
    else
      add_node(&gr, node,
               g_strdup_printf(mermaid ? "%s%s (%s)" : "%s%s\\n%s", t->id,
                               mapped ? " [ ]" : "", t->op_name),
               mapped ? 1 : 0);
  }
  g_hash_table_unref(sizes);
  for (guint i = 0; i < n; i++) {
    const ph_task_spec *t = ph_plan_get_task(plan, i);
    for (guint k = 0; k < t->n_down; k++) {
      const char *a = node_of(dag, t, expand);
      const char *b = node_of(dag, ph_plan_get_task(plan, t->down[k]), expand);
      if (!strcmp(a, b))
        continue; /* inside a collapsed group */
      char *key = g_strconcat(a, "\n", b, NULL);
      if (g_hash_table_contains(gr.edges, key)) {
        g_free(key);
        continue;
      }
      g_hash_table_add(gr.edges, key);
      g_ptr_array_add(gr.edge_list, key);
    }
  }
  if (mermaid)
    printf("graph LR\n");
  else
    printf("digraph \"%s\" {\n  rankdir=LR;\n  node [shape=box];\n",
           ph_plan_get_dag_id(plan));
  if (expand) {
    print_level(plan, dag, &gr, -1, mermaid, 1);
  } else {
    for (guint i = 0; i < gr.ids->len; i++) {
      const char *id = gr.ids->pdata[i], *label = gr.labels->pdata[i];
      int kind = g_array_index(gr.kinds, int, i);
      if (mermaid) {
        g_autofree char *mid = mermaid_id(id);
        printf("  %s%s\"%s\"%s\n", mid, kind ? "[[" : "[", label,
               kind ? "]]" : "]");
      } else {
        printf("  \"%s\" [label=\"%s\"%s];\n", id, label,
               kind == 2   ? ", shape=folder"
               : kind == 1 ? ", shape=box3d"
                           : "");
      }
    }
  }
  for (guint i = 0; i < gr.edge_list->len; i++) {
    g_auto(GStrv) ab = g_strsplit(gr.edge_list->pdata[i], "\n", 2);
    if (mermaid) {
      g_autofree char *ma = mermaid_id(ab[0]), *mb = mermaid_id(ab[1]);
      printf("  %s --> %s\n", ma, mb);
    } else {
      printf("  \"%s\" -> \"%s\";\n", ab[0], ab[1]);
    }
  }
  if (!mermaid)
    printf("}\n");
  rc = 0;
out:
  g_ptr_array_unref(gr.edge_list);
  g_hash_table_unref(gr.edges);
  g_hash_table_unref(gr.index);
  g_ptr_array_unref(gr.ids);
  g_ptr_array_unref(gr.labels);
  g_array_free(gr.kinds, TRUE);
  ph_plan_free(plan);
  ph_dag_free(dag);
  ph_registry_free(reg);
  g_free(format);
  g_option_context_free(ctx);
  return rc;
}
