/* compat -- plugins "built against a newer header" (ABI minor + 1), one
 * per build: COMPAT_KIND 1 declares min_host_minor = this host's minor and
 * leaves the newer descriptor bytes zero (loads: compatibility both ways),
 * 2 declares it needs the newer minor (refused), 3 sets a newer member
 * this host does not know (refused, naming it). */
#include <string.h>

#include "pipehost/plugin.h"

static ph_status hi(const ph_host *h, ph_task *t, void *state) {
  return h->xcom_push(t, NULL, "\"from the future\"");
}

static const ph_param *const none[] = {NULL};
static const ph_operator op = {PH_OPERATOR_INIT,
                               .type = "future_op_" COMPAT_NAME,
                               .doc = "an operator of a newer-ABI plugin",
                               .kind = PH_KIND_TASK,
                               .params = none,
                               .execute2 = hi};
static const ph_operator *const ops[] = {&op, NULL};

/* the descriptor as a newer header would lay it out: 16 more bytes */
static struct {
  ph_plugin p;
  unsigned char newer[16];
} desc = {{
              .struct_size = sizeof(ph_plugin) + 16,
              .abi_major = PH_ABI_MAJOR,
              .abi_minor = PH_ABI_MINOR + 1,
              .name = "future_" COMPAT_NAME,
              .version = "9.9",
              .license = "MIT",
              .description = "built against a newer plugin.h",
              .operators = ops,
#if COMPAT_KIND == 2
              .min_host_minor = PH_ABI_MINOR + 1,
#else
              .min_host_minor = PH_ABI_MINOR,
#endif
          },
#if COMPAT_KIND == 3
          {1}
#else
          {0}
#endif
};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &desc.p; }
