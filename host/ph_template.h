/* ph_template -- renders "{{ expr }}" templates, where expr is a Lua
 * expression over Airflow's template context, with Jinja-style filters
 * ("{{ x | shell_quote }}").  The Lua state is sandboxed (no io, os,
 * require or load of files) and limited in memory and instructions. */
#ifndef PH_TEMPLATE_H
#define PH_TEMPLATE_H

#include <glib.h>

/* Returns the JSON text of task_id's XCom under key (caller frees with
 * g_free), or NULL when there is none. */
typedef char *(*ph_template_xcom_fn)(const char *task_id, const char *key,
                                     void *user);

/* Renders every "{{ expr }}" of tmpl with the members of context_json (a
 * JSON object) as globals, plus xcom_pull(task_ids, key) and
 * ti.xcom_pull(...).  Returns a new string, or NULL with error set to
 * "template error in '<tmpl>' at position P: <reason>". */
char *ph_template_render(const char *tmpl, const char *context_json,
                         ph_template_xcom_fn xcom, void *user, GError **error);

/* Renders every string inside the JSON value json (recursively) and
 * returns the new JSON text, or NULL with error set on the first
 * failure. */
char *ph_template_render_json(const char *json, const char *context_json,
                              ph_template_xcom_fn xcom, void *user,
                              GError **error);

/* TRUE when text (a template, or JSON holding templates) has a template
 * marker, {{ or {%: text without one renders as itself. */
gboolean ph_template_has_markers(const char *text);

/* TRUE when a template (or JSON holding templates) calls Lua's pattern
 * functions (find, match, gmatch, gsub).  Their backtracking can take
 * hours inside one C call, where no instruction limit or timer can stop
 * it: the host renders only templates without them, and leaves the rest
 * to the try's worker, which its execution_timeout can stop. */
gboolean ph_template_calls_patterns(const char *text);

#endif
