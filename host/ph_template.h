/* placeholder until the template module lands */
#ifndef PH_TEMPLATE_H
#define PH_TEMPLATE_H
#include <glib.h>
typedef char *(*ph_template_xcom_fn)(const char *task_id, const char *key, void *user);
char *ph_template_render_json(const char *json, const char *context_json, ph_template_xcom_fn xcom, void *user, GError **error);
#endif
