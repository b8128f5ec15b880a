/* loadtime -- plugins whose load-time code is hostile, one per build:
 * LOAD_KIND 1 calls exit() from an ELF constructor, 2 crashes (SIGSEGV)
 * in pipehost_plugin_v1().  The host must list each as refused and carry
 * on (ph_scan). */
#include <signal.h>
#include <stdlib.h>

#include "pipehost/plugin.h"

#if LOAD_KIND == 1
__attribute__((constructor)) static void leave(void) { exit(3); }
#endif

static ph_status ok_exec(void *s, ph_task *t) { return PH_OK; }
static ph_status ok_init(const ph_host *h, ph_task *t, void **out) {
  *out = NULL;
  return PH_OK;
}
static void ok_destroy(void *s) {}

static const ph_param *const none[] = {NULL};
static const ph_operator op = {PH_OPERATOR_INIT,       .type = "loadtime_op",
                               .doc = "never reached", .kind = PH_KIND_TASK,
                               .params = none,         .init = ok_init,
                               .execute = ok_exec,     .destroy = ok_destroy};
static const ph_operator *const ops[] = {&op, NULL};
static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "loadtime",
                                 .version = "0.0.1",
                                 .license = "MIT",
                                 .description = "hostile load-time code",
                                 .operators = ops};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) {
#if LOAD_KIND == 2
  raise(SIGSEGV);
#endif
  return &plugin;
}
