/* json_pick -- one field of an upstream task's XCom, picked by path
 * ("rows[0].id"), as this task's return_value.
 * Build: cc -shared -fPIC $(pkg-config --cflags pipehost-plugin)
 *        json_pick.c -o json_pick.so */
#include <pipehost/plugin.h>

static ph_status pick(const ph_host *h, ph_task *t, void *state) {
  const char *from = NULL, *path = "", *value = NULL, *field = NULL;
  h->param_string(t, "from", &from);
  h->param_string(t, "path", &path);
  if (h->xcom_pull(t, from, NULL, &value) != PH_OK || !value) {
    h->set_error(t, "the upstream pushed no return_value", from,
                 "check the from param");
    return PH_FAIL_NO_RETRY;
  }
  if (h->json_get(t, value, path, &field) != PH_OK) {
    h->set_error(t, "the path leads nowhere in the value", path, NULL);
    return PH_FAIL_NO_RETRY;
  }
  return h->xcom_push(t, NULL, field);
}

static const ph_param p_from = {PH_PARAM_INIT, .name = "from", .type = "string",
                                .flags = PH_PARAM_REQUIRED,
                                .doc = "the upstream task id"};
static const ph_param p_path = {PH_PARAM_INIT, .name = "path", .type = "string",
                                .default_json = "\"\"",
                                .doc = "a path such as rows[0].id"};
static const ph_param *const params[] = {&p_from, &p_path, NULL};
static const ph_operator op = {PH_OPERATOR_INIT,
                               .type = "json_pick",
                               .doc = "picks a field of an XCom",
                               .kind = PH_KIND_TASK,
                               .params = params,
                               .execute2 = pick};
static const ph_operator *const ops[] = {&op, NULL};
static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "json_pick",
                                 .version = "1.0",
                                 .license = "MIT",
                                 .description = "JSON field picker",
                                 .operators = ops};
PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
