/* ph_dag -- the in-memory DAG model that both loaders (Lua, YAML) produce.
 *
 * A loader fills the model with raw facts and their source lines: the DAG's
 * id and args, default_args, tasks with their operator name and raw
 * arguments (JSON), and edges by task id.  Nothing is interpreted here:
 * ph_validate resolves and checks the model against the plugin registry.
 * Errors found while loading are recorded on the model with
 * ph_dag_add_error() and reported together with the validator's.
 */
#ifndef PH_DAG_H
#define PH_DAG_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct ph_dag ph_dag;
typedef struct ph_dag_task ph_dag_task;

#define PH_DAG_YAML 1
#define PH_DAG_LUA 2

/* A new empty model for file (copied); kind is PH_DAG_YAML or PH_DAG_LUA.
 * Free with ph_dag_free(). */
ph_dag *ph_dag_new(const char *file, int kind);
/* Frees the model and everything it owns.  NULL is a no-op. */
void ph_dag_free(ph_dag *d);

/* Sets the DAG id (copied) and the line it was declared on. */
void ph_dag_set_id(ph_dag *d, const char *id, int line);
/* Borrowed; NULL until set. */
const char *ph_dag_get_id(const ph_dag *d);
/* Line of the DAG declaration, 0 when unknown. */
int ph_dag_get_line(const ph_dag *d);
/* Borrowed file path as given to ph_dag_new(). */
const char *ph_dag_get_file(const ph_dag *d);
int ph_dag_get_kind(const ph_dag *d);

/* DAG-level arguments other than id and default_args (schedule,
 * start_date, params, description, ...).  Borrowed, never NULL; loaders
 * add members to it. */
JsonObject *ph_dag_get_args(ph_dag *d);
/* default_args of the DAG.  Borrowed, never NULL. */
JsonObject *ph_dag_get_default_args(ph_dag *d);
/* Records the source line of a DAG-level or default_args key. */
void ph_dag_set_arg_line(ph_dag *d, const char *key, int line);
int ph_dag_get_arg_line(const ph_dag *d, const char *key);

/* Adds a task and returns it (borrowed, owned by d).  On a duplicate id,
 * records an error naming both lines on d and returns NULL. */
ph_dag_task *ph_dag_add_task(ph_dag *d, const char *task_id, int line);
/* Number of tasks, and task i in declaration order (borrowed). */
guint ph_dag_n_tasks(const ph_dag *d);
ph_dag_task *ph_dag_get_task(const ph_dag *d, guint i);
/* The task with that id, or NULL (borrowed). */
ph_dag_task *ph_dag_lookup(const ph_dag *d, const char *task_id);

/* Records the edge up >> down (task ids, copied) found at line.  Ids are
 * resolved by the validator, so an edge may name an unknown task.  An id
 * may name a task group: the group's leaves (as up) or roots (as down). */
void ph_dag_add_edge(ph_dag *d, const char *up, const char *down, int line);
/* As ph_dag_add_edge, written inside group scope (its full id, or NULL):
 * a name there means a member of scope first (scope.NAME), then of each
 * enclosing group, then of the DAG, as a YAML group's "upstream: [a]". */
void ph_dag_add_edge_in(ph_dag *d, const char *up, const char *down, int line,
                        const char *scope);
guint ph_dag_n_edges(const ph_dag *d);
/* Edge i: borrowed ids and its line. */
void ph_dag_get_edge(const ph_dag *d, guint i, const char **up,
                     const char **down, int *line);
/* The scope edge i was written in (borrowed), or NULL. */
const char *ph_dag_get_edge_scope(const ph_dag *d, guint i);

/* ---- task groups (Airflow's TaskGroup): a named set of tasks whose ids
 * are prefixed "group.", with default_args of its own; groups nest. */
/* Adds group id (its full id, "outer.inner") inside parent (NULL: the
 * DAG) and returns its index; -1 after recording an error (a bad or
 * duplicate id). */
int ph_dag_add_group(ph_dag *d, const char *id, const char *parent, int line);
guint ph_dag_n_groups(const ph_dag *d);
/* The index of group id, or -1. */
int ph_dag_group_lookup(const ph_dag *d, const char *id);
/* Borrowed id and parent (NULL at the top) of group i, and its line. */
const char *ph_dag_group_get_id(const ph_dag *d, guint i);
const char *ph_dag_group_get_parent(const ph_dag *d, guint i);
int ph_dag_group_get_line(const ph_dag *d, guint i);
/* The group's default_args (borrowed, never NULL): between the DAG's and
 * the task's own. */
JsonObject *ph_dag_group_get_default_args(ph_dag *d, guint i);

/* Records an error "FILE:LINE: message" (col 0 = none: "FILE:LINE:COL: "
 * when col > 0; line 0 = "FILE: ").  printf-style. */
void ph_dag_add_error(ph_dag *d, int line, int col, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
guint ph_dag_n_errors(const ph_dag *d);
/* Error i, borrowed. */
const char *ph_dag_get_error(const ph_dag *d, guint i);

/* ---- tasks */
const char *ph_dag_task_get_id(const ph_dag_task *t);
/* The innermost group the task is in (full id, copied), or NULL. */
void ph_dag_task_set_group(ph_dag_task *t, const char *group);
/* Borrowed; NULL when the task is in no group. */
const char *ph_dag_task_get_group(const ph_dag_task *t);
int ph_dag_task_get_line(const ph_dag_task *t);
/* Sets the operator name (copied); NULL until set. */
void ph_dag_task_set_op(ph_dag_task *t, const char *op, int line);
const char *ph_dag_task_get_op(const ph_dag_task *t);
int ph_dag_task_get_op_line(const ph_dag_task *t);
/* Sets argument key (every task key other than id, op and upstream) to
 * value, which is taken (owned by the task from now on), found at line.
 * A Lua function is stored as the JSON object {"$lua": "<ref>"} where ref
 * names it in the Lua DSL's pipehost.callables table. */
void ph_dag_task_set_arg(ph_dag_task *t, const char *key, JsonNode *value,
                         int line);
/* The task's own arguments (borrowed, never NULL). */
JsonObject *ph_dag_task_get_args(ph_dag_task *t);
/* Line of argument key; falls back to the task's line. */
int ph_dag_task_get_arg_line(const ph_dag_task *t, const char *key);

/* Loads a DAG file, choosing the loader by extension (.lua, .yaml, .yml).
 * Returns the model, which may carry load errors (see ph_dag_n_errors), or
 * NULL with error set when the file cannot be read or parsed at all; the
 * message then starts with "FILE:LINE:COL:".  lua_dir is the folder of the
 * Lua DSL (pipehost.lua). */
ph_dag *ph_dag_load(const char *file, const char *lua_dir, GError **error);

#endif /* PH_DAG_H */
