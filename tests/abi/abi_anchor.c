/* Mentions every ABI type so that abidw/abidiff see their full layout.
 * Built twice: against the frozen 1.0 header and the current one. */
#include <pipehost/plugin.h>

PH_EXPORT void ph_abi_anchor(const ph_host *h, const ph_plugin *p,
                             const ph_operator *o, const ph_param *q,
                             ph_task *t, ph_status s);
void ph_abi_anchor(const ph_host *h, const ph_plugin *p, const ph_operator *o,
                   const ph_param *q, ph_task *t, ph_status s) {
  (void)h, (void)p, (void)o, (void)q, (void)t, (void)s;
}
