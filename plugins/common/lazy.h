/* lazy -- operators whose code lives in a second library, loaded on the
 * first init of a try (in the worker process).  The plugin that the host
 * scans holds only descriptors (names, params, docs), so listing and
 * validating DAGs never maps a heavy dependency (XGBoost, libpq, libcurl)
 * into the host process: faster start, less memory, and nothing of those
 * libraries (threads, TLS, static constructors) in the scheduler.
 *
 * The implementation library sits in the "impl" folder next to the plugin
 * (<plugin dir>/impl/<name>.so) and exports
 *     const ph_operator *pipehost_impl_operator(const char *type);
 * returning the real callbacks (init, execute, poke, on_kill, destroy) of
 * each operator type.
 *
 * A descriptor file wires each operator with PH_LAZY_OPERATOR and the
 * generic forwarders below.
 */
#ifndef PH_LAZY_H
#define PH_LAZY_H

#include "pipehost/plugin.h"

/* Loads <this plugin's dir>/impl/<impl>.so (once) and calls the init of
 * its operator type; on success *out is a forwarding state. */
ph_status ph_lazy_init(const ph_host *h, ph_task *t, const char *impl,
                       const char *type, void **out);
/* Forwarders for the other callbacks. */
ph_status ph_lazy_execute(void *state, ph_task *t);
ph_status ph_lazy_poke(void *state, ph_task *t, int32_t *done);
void ph_lazy_on_kill(void *state);
void ph_lazy_destroy(void *state);

/* Loads <this plugin's dir>/impl/<impl>.so in the process that forks the
 * workers (the plugin's prefork, ABI 1.5), so that every worker inherits
 * it loaded; a failure is left for the try to report. */
void ph_lazy_prefork(const char *impl);

/* Defines lazy_prefork() for implementation IMPL, for .prefork. */
#define PH_LAZY_PREFORK(impl)                                                  \
  static void lazy_prefork(void) { ph_lazy_prefork(impl); }

/* Defines NAME_init for operator TYPE of implementation IMPL. */
#define PH_LAZY_INIT(name, impl, type)                                         \
  static ph_status name##_init(const ph_host *h, ph_task *t, void **out) {     \
    return ph_lazy_init(h, t, impl, type, out);                                \
  }

#endif
