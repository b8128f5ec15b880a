/* A plugin built against the frozen ABI 1.0 header: it must load into the
 * current host and run. */
#include <stdlib.h>

#include <pipehost/plugin.h>

static ph_status v_init(const ph_host *h, ph_task *t, void **out) {
  *out = (void *)h;
  return PH_OK;
}
static ph_status v_exec(void *s, ph_task *t) {
  const ph_host *h = s;
  return h->xcom_push(t, NULL, "\"built against ABI 1.0\"");
}
static void v_destroy(void *s) { (void)s; }
static const ph_param *const none[] = {NULL};
static const ph_operator op = {PH_OPERATOR_INIT, .type = "v10_op",
                               .doc = "ABI 1.0 test operator",
                               .kind = PH_KIND_TASK, .params = none,
                               .init = v_init, .execute = v_exec,
                               .destroy = v_destroy};
static const ph_operator *const ops[] = {&op, NULL};
static const ph_plugin plugin = {PH_PLUGIN_INIT, .name = "v10",
                                 .version = "1.0.0", .license = "MIT",
                                 .description = "built against ABI 1.0",
                                 .operators = ops};
PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
