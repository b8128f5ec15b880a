/* ph_registry -- finds, checks and loads operator plugins.
 *
 * Scans directories for *.so files, dlopen()s each with
 * RTLD_NOW|RTLD_LOCAL, checks its descriptor (ABI major/minor, struct
 * sizes, required fields, unique plugin and operator names) and indexes
 * its operators by type and by "<plugin>.<type>".  Refuses files or
 * directories writable by group or others, or owned by another user.
 * Never dlclose()s a plugin that passed its checks.  Every refusal names
 * the file and the check that failed.
 */
#ifndef PH_REGISTRY_H
#define PH_REGISTRY_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "pipehost/plugin.h"

typedef struct ph_registry ph_registry;

/* A new empty registry.  Free with ph_registry_free() (plugins stay
 * mapped: they are never unloaded). */
ph_registry *ph_registry_new(void);
void ph_registry_free(ph_registry *r);

/* For a process that is itself a sandbox (a worker): plugins are loaded
 * without first vetting them in a child process (ph_scan), since a crash
 * while loading costs only this process.  The file checks (owner,
 * permissions, descriptor) still apply. */
void ph_registry_set_sandboxed(ph_registry *r, gboolean sandboxed);

/* Loads every *.so in dir (not recursive), in name order.  A missing dir
 * is not an error.  Refusals are recorded (ph_registry_n_problems) and do
 * not stop the scan.  Returns the number of plugins loaded. */
guint ph_registry_scan_dir(ph_registry *r, const char *dir);

/* Loads one plugin file.  Returns the descriptor (borrowed, static in the
 * plugin) or NULL with error set to "FILE: <check>: <detail>"; the
 * problem is also recorded on r. */
const ph_plugin *ph_registry_load_file(ph_registry *r, const char *path,
                                       GError **error);

/* The operator named type or "<plugin>.<type>", or NULL.  *plugin (if not
 * NULL) receives its plugin and *path its file (both borrowed). */
const ph_operator *ph_registry_lookup(const ph_registry *r, const char *name,
                                      const ph_plugin **plugin,
                                      const char **path);

/* NULL-terminated array of every operator name (types only), sorted;
 * caller frees the array with g_free (strings are borrowed). */
const char **ph_registry_operator_names(const ph_registry *r);

/* Loaded plugins, in load order: count, descriptor i and its path. */
guint ph_registry_n_plugins(const ph_registry *r);
const ph_plugin *ph_registry_get_plugin(const ph_registry *r, guint i,
                                        const char **path);

/* Refusals recorded while scanning: count and message i (borrowed). */
guint ph_registry_n_problems(const ph_registry *r);
const char *ph_registry_get_problem(const ph_registry *r, guint i);

/* The task keys the host reads itself (retries, timeout, mode, pool, ...;
 * NULL-terminated, static).  A plugin whose param takes one of these
 * names, or op, id or upstream, is refused: no task could set it. */
const char *const *ph_registry_host_keys(void);

/* The JSON type of a value as param specs name them: null, object,
 * array, boolean, integer, number or string (static text). */
const char *ph_registry_json_type(JsonNode *n);
/* TRUE when n fits a param of declared type (number takes integers; any
 * takes anything; callable takes a string or a {"$lua": ...} object). */
gboolean ph_registry_type_ok(const char *type, JsonNode *n);
/* TRUE when v is allowed by pp's choices and range (ABI 1.4); FALSE with
 * error naming the param, the allowed values and what it got. */
gboolean ph_registry_param_value_ok(const ph_param *pp, JsonNode *v,
                                    GError **error);
/* A templated param's rendered value converted to pp's declared type (a
 * template renders text: "8080" becomes 8080 for an integer param); a new
 * node, or NULL with error naming the param and the rendered text. */
JsonNode *ph_registry_param_coerce(const ph_param *pp, JsonNode *rendered,
                                   GError **error);

/* For a PH_PARAM_PATH param: resolves, in place, each relative path in v
 * (a string, a list of them, or an object's "path" / "target_path")
 * against base, the DAG file's directory, when something exists there: a
 * DAG author writes paths next to the DAG file.  Other text (a URL, a
 * model reference such as NAME@production, a path found nowhere) is left
 * as it is. */
void ph_registry_resolve_paths(const ph_param *pp, JsonNode *v,
                               const char *base);

/* The param spec named name of op, or NULL. */
const ph_param *ph_registry_find_param(const ph_operator *op,
                                       const char *name);

/* Checks one descriptor in memory (no file involved): the checks
 * ph_registry_load_file applies after dlsym.  Returns TRUE or FALSE with
 * error set to "<check>: <detail>".  Exposed for tests and fuzzing. */
gboolean ph_registry_check_descriptor(const ph_plugin *p, GError **error);

/* Scans the standard places in order: builtin_dir, every dir of
 * $PIPEHOST_PLUGIN_PATH (colon-separated), then extra_dirs
 * (NULL-terminated, may be NULL; from --plugin-dir).  A plugin or operator
 * name already loaded is refused as a duplicate, so built-in names cannot
 * be taken over. */
void ph_registry_scan_default(ph_registry *r, const char *const *extra_dirs,
                              const char *builtin_dir);

/* The param an argv element of an operator's command stands for ("{name}"
 * gives "name"), or NULL for literal text; caller frees.  The registry
 * checks command templates with it; ph_direct fills them. */
char *ph_registry_placeholder(const char *arg);

#endif
