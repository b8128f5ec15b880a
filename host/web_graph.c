/* web_graph -- see web_graph.h. */
#include "web_graph.h"

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <string.h>
#include <sys/stat.h>

#include "ph_dag.h"
#include "ph_plan.h"
#include "ph_registry.h"
#include "ph_util.h"

struct web_graph {
  GVC_t *gvc;
  ph_registry *reg;
  char *lua_dir;
  GHashTable *plans; /* file -> cached (identity, dag, plan) */
};

typedef struct {
  char *identity;
  ph_dag *dag;
  ph_plan *plan;
} cached;

static void cached_free(gpointer p) {
  cached *c = p;
  ph_plan_free(c->plan);
  ph_dag_free(c->dag);
  g_free(c->identity);
  g_free(c);
}

web_graph *web_graph_new(const char *builtin_dir, const char *lua_dir) {
  web_graph *g = g_new0(web_graph, 1);
  g->gvc = gvContext();
  g->reg = ph_registry_new();
  ph_registry_scan_default(g->reg, NULL, builtin_dir);
  g->lua_dir = g_strdup(lua_dir);
  g->plans =
      g_hash_table_new_full(g_str_hash, g_str_equal, g_free, cached_free);
  return g;
}

void web_graph_free(web_graph *g) {
  if (!g)
    return;
  g_hash_table_unref(g->plans);
  ph_registry_free(g->reg);
  gvFreeContext(g->gvc);
  g_free(g->lua_dir);
  g_free(g);
}

/* The plan of file, loaded again only when the file changed. */
static const ph_plan *plan_of(web_graph *g, const char *file, char **why) {
  struct stat sb;
  g_autofree char *id =
      stat(file, &sb) == 0 ? ph_util_stat_identity(&sb) : NULL;
  cached *c = g_hash_table_lookup(g->plans, file);
  if (c && id && !g_strcmp0(c->identity, id))
    return c->plan;
  GError *err = NULL;
  ph_dag *dag = ph_dag_load(file, g->lua_dir, &err);
  GPtrArray *errors = g_ptr_array_new_with_free_func(g_free);
  ph_plan *plan = dag ? ph_plan_build(dag, g->reg, errors) : NULL;
  if (!plan) {
    *why = g_strdup(err           ? err->message
                    : errors->len ? (char *)errors->pdata[0]
                                  : "the DAG does not load");
    g_clear_error(&err);
    g_ptr_array_unref(errors);
    ph_dag_free(dag);
    return NULL;
  }
  g_ptr_array_unref(errors);
  c = g_new0(cached, 1);
  c->identity = g_strdup(id);
  c->dag = dag;
  c->plan = plan;
  g_hash_table_replace(g->plans, g_strdup(file), c);
  return plan;
}

const ph_plan *web_graph_plan(web_graph *g, const char *file, char **why) {
  return plan_of(g, file, why);
}

/* Airflow's state colours (settings.py STATE_COLORS; none lightblue). */
static const char *colour(const char *state) {
  static const char *const map[][2] = {{"success", "green"},
                                       {"failed", "red"},
                                       {"running", "lime"},
                                       {"queued", "gray"},
                                       {"scheduled", "tan"},
                                       {"skipped", "hotpink"},
                                       {"upstream_failed", "orange"},
                                       {"up_for_retry", "gold"},
                                       {"up_for_reschedule", "turquoise"},
                                       {"removed", "lightgrey"}};
  for (guint i = 0; state && i < G_N_ELEMENTS(map); i++)
    if (!strcmp(map[i][0], state))
      return map[i][1];
  return "lightblue";
}

char *web_graph_svg(web_graph *g, const char *file, JsonObject *states,
                    gsize *len, char **why) {
  const ph_plan *plan = plan_of(g, file, why);
  if (!plan)
    return NULL;
  GString *dot = g_string_new("digraph dag {\n rankdir=LR;\n node "
                              "[shape=box, style=\"rounded,filled\", "
                              "fontname=\"DejaVu Sans\", fontsize=11];\n");
  guint n = ph_plan_n_tasks(plan);
  for (guint i = 0; i < n; i++) {
    const ph_task_spec *t = ph_plan_get_task(plan, i);
    JsonObject *s = states && json_object_has_member(states, t->id)
                        ? json_object_get_object_member(states, t->id)
                        : NULL;
    const char *st =
        s ? json_object_get_string_member_with_default(s, "state", NULL) : NULL;
    /* a mapped task's instances: the sum of its mapped_states */
    gint64 count = 0;
    JsonObject *ms = s && json_object_has_member(s, "mapped_states")
                         ? json_object_get_object_member(s, "mapped_states")
                         : NULL;
    GList *sts = ms ? json_object_get_members(ms) : NULL;
    for (GList *l = sts; l; l = l->next)
      count += json_object_get_int_member(ms, l->data);
    g_list_free(sts);
    gboolean mapped = t->expand || t->expand_kwargs;
    g_autofree char *mark =
        !mapped ? g_strdup("")
        : count ? g_strdup_printf(" [%" G_GINT64_FORMAT "]", count)
                : g_strdup(" [ ]");
    /* ids and operator names are letters, digits, '_', '.', '-': safe in
     * a DOT string; Graphviz escapes them again in the SVG */
    g_string_append_printf(
        dot,
        " \"%s\" [label=\"%s%s\\n%s\", fillcolor=\"%s\", "
        "fontcolor=\"%s\"%s];\n",
        t->id, t->id, mark, t->op_name, colour(st),
        st && (!strcmp(st, "success") || !strcmp(st, "failed")) ? "white"
                                                                : "black",
        mapped ? ", peripheries=2" : "");
  }
  for (guint i = 0; i < n; i++) {
    const ph_task_spec *t = ph_plan_get_task(plan, i);
    for (guint k = 0; k < t->n_down; k++)
      g_string_append_printf(dot, " \"%s\" -> \"%s\";\n", t->id,
                             ph_plan_get_task(plan, t->down[k])->id);
  }
  g_string_append(dot, "}\n");
  char *svg = NULL;
  Agraph_t *gr = agmemread(dot->str);
  g_string_free(dot, TRUE);
  if (!gr) {
    *why = g_strdup("Graphviz could not read the graph");
    return NULL;
  }
  unsigned int n_out = 0;
  char *buf = NULL;
  if (gvLayout(g->gvc, gr, "dot") == 0 &&
      gvRenderData(g->gvc, gr, "svg", &buf, &n_out) == 0) {
    svg = g_strndup(buf, n_out);
    *len = n_out;
  } else {
    *why = g_strdup("Graphviz could not lay the graph out");
  }
  if (buf)
    gvFreeRenderData(buf);
  gvFreeLayout(g->gvc, gr);
  agclose(gr);
  return svg;
}
