/* prefork -- plugins with a prefork (ABI 1.5), one per build: KIND 1
 * prepares a value every worker inherits, 2 crashes in prefork, 3 never
 * returns from it.  Each operator pushes what its worker inherited
 * (42 when the prefork ran first, else 0): a try runs whatever the
 * prefork does. */
#include <signal.h>
#include <unistd.h>

#include "pipehost/plugin.h"

static int g_prepared;

static void prepare(void) {
#if KIND == 2
  raise(SIGSEGV);
#elif KIND == 3
  for (;;)
    pause();
#endif
  g_prepared = 42;
}

static ph_status report(const ph_host *h, ph_task *t, void *state) {
  (void)state;
  return h->xcom_push(t, NULL, g_prepared == 42 ? "42" : "0");
}

static const ph_param *const none[] = {NULL};
static const ph_operator op = {PH_OPERATOR_INIT,
                               .type = PREFORK_NAME "_op",
                               .doc = "pushes what prefork prepared",
                               .kind = PH_KIND_TASK,
                               .params = none,
                               .execute2 = report};
static const ph_operator *const ops[] = {&op, NULL};
static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = PREFORK_NAME,
                                 .version = "0.0.1",
                                 .license = "MIT",
                                 .description = "a plugin with a prefork",
                                 .operators = ops,
                                 .prefork = prepare};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
