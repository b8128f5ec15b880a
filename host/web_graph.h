/* web_graph -- a DAG run's graph laid out by Graphviz (libgvc) as SVG,
 * each task filled with its state's colour (Airflow's palette), for the
 * webserver's UI (/object/graph).  Only pipehost-web links Graphviz. */
#ifndef WEB_GRAPH_H
#define WEB_GRAPH_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct web_graph web_graph;

/* A renderer that validates DAG files against the plugins of builtin_dir
 * (and $PIPEHOST_PLUGIN_PATH) and loads Lua DAGs with lua_dir. */
web_graph *web_graph_new(const char *builtin_dir, const char *lua_dir);
void web_graph_free(web_graph *g);

/* The validated plan of file (owned by g, valid until the file changes
 * and is asked for again), or NULL with *why set. */
const struct ph_plan *web_graph_plan(web_graph *g, const char *file,
                                     char **why);

/* The SVG of the DAG in file (its plan cached until the file changes):
 * states maps task ids to {state, mapped_states} (ph_api_run_states),
 * may be NULL.  A new string of *len bytes, or NULL with *why
 * set. */
char *web_graph_svg(web_graph *g, const char *file, JsonObject *states,
                    gsize *len, char **why);

#endif /* WEB_GRAPH_H */
