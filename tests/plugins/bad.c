/* bad -- one refused plugin per build: BAD_KIND selects what is wrong.
 * 1 wrong ABI major, 2 newer ABI minor, 3 NULL name, 4 NULL operators,
 * 5 operator without execute, 6 duplicate plugin name ("bash"),
 * 7 duplicate operator type across plugins ("bash"), 8 no entry point,
 * 9 struct_size too small, 10 bad param type, 11 struct larger than the
 * host's while claiming this minor, 12 a param named like a host key
 * ("timeout"). */
#include "pipehost/plugin.h"

/* each build uses only some of the pieces below */
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-const-variable"

static ph_status noop_init(const ph_host *h, ph_task *t, void **o) {
  *o = 0;
  return PH_OK;
}
static ph_status noop_exec(void *s, ph_task *t) { return PH_OK; }
static void noop_destroy(void *s) {}

static const ph_param bad_param = {PH_PARAM_INIT, .name = "x",
                                   .type = "strnig"};
__attribute__((unused)) static const ph_param *const params10[] = {&bad_param, NULL};
static const ph_param host_named = {PH_PARAM_INIT, .name = "timeout",
                                    .type = "number"};
__attribute__((unused)) static const ph_param *const params12[] = {&host_named,
                                                                   NULL};
static const ph_param *const none[] = {NULL};

static const ph_operator op = {
    PH_OPERATOR_INIT,
#if BAD_KIND == 7
    .type = "bash",
#else
    .type = "bad_op",
#endif
    .kind = PH_KIND_TASK,
#if BAD_KIND == 10
    .params = params10,
#elif BAD_KIND == 12
    .params = params12,
#else
    .params = none,
#endif
    .init = noop_init,
#if BAD_KIND != 5
    .execute = noop_exec,
#endif
    .destroy = noop_destroy};
__attribute__((unused)) static const ph_operator *const ops[] = {&op, 0};

static const ph_plugin plugin = {
#if BAD_KIND == 9
    .struct_size = 8,
#elif BAD_KIND == 11
    .struct_size = sizeof(ph_plugin) + 16, /* a newer minor's, claiming 1.0 */
#else
    .struct_size = sizeof(ph_plugin),
#endif
#if BAD_KIND == 1
    .abi_major = 2,
#else
    .abi_major = PH_ABI_MAJOR,
#endif
#if BAD_KIND == 2
    .abi_minor = PH_ABI_MINOR + 1,
#else
    .abi_minor = PH_ABI_MINOR,
#endif
#if BAD_KIND == 3
    .name = 0,
#elif BAD_KIND == 6
    .name = "bash",
#else
    .name = "bad" ,
#endif
    .version = "1",
    .license = "MIT",
    .description = "a plugin the registry must refuse",
#if BAD_KIND != 4
    .operators = ops,
#endif
};

#if BAD_KIND == 8
PH_EXPORT const ph_plugin *not_the_entry(void) { return &plugin; }
#else
PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
#endif
