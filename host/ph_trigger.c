/* ph_trigger -- see ph_trigger.h.  Each branch follows the rule table in
 * AIRFLOW.md §1.2 (trigger_rule_dep.py with flag_upstream_failed). */
#include "ph_trigger.h"

#include <glib.h>
#include <string.h>

static const char *const names[] = {"all_success",
                                    "all_failed",
                                    "all_done",
                                    "all_skipped",
                                    "one_success",
                                    "one_failed",
                                    "one_done",
                                    "none_failed",
                                    "none_failed_min_one_success",
                                    "none_skipped",
                                    "always",
                                    "all_done_min_one_success",
                                    NULL};

int ph_trigger_from_name(const char *name) {
  for (int i = 0; names[i]; i++)
    if (!strcmp(names[i], name))
      return i;
  return -1;
}

const char *ph_trigger_name(int rule) {
  return rule >= 0 && rule < PH_TR_COUNT ? names[rule] : "?";
}

const char *const *ph_trigger_names(void) { return names; }

int ph_trigger_eval(int rule, const ph_tr_counts *c) {
  int n = c->n, s = c->success, sk = c->skipped, f = c->failed,
      uf = c->upstream_failed;
  int done = s + sk + f + uf;
  if (n == 0 || rule == PH_TR_ALWAYS)
    return PH_TR_RUN;
  switch (rule) {
  case PH_TR_ALL_SUCCESS:
    if (f + uf > 0)
      return PH_TR_UPSTREAM_FAILED;
    if (sk > 0)
      return PH_TR_SKIP;
    return s >= n ? PH_TR_RUN : PH_TR_WAIT;
  case PH_TR_ALL_FAILED:
    if (s > 0 || sk > 0)
      return PH_TR_SKIP;
    return f + uf >= n ? PH_TR_RUN : PH_TR_WAIT;
  case PH_TR_ALL_DONE:
    return done >= n ? PH_TR_RUN : PH_TR_WAIT;
  case PH_TR_ALL_SKIPPED:
    if (s + f + uf > 0)
      return PH_TR_SKIP;
    return sk >= n ? PH_TR_RUN : PH_TR_WAIT;
  case PH_TR_ONE_SUCCESS:
    if (s >= 1)
      return PH_TR_RUN;
    if (done >= n)
      return done == sk ? PH_TR_SKIP : PH_TR_UPSTREAM_FAILED;
    return PH_TR_WAIT;
  case PH_TR_ONE_FAILED:
    if (f + uf >= 1)
      return PH_TR_RUN;
    return done >= n ? PH_TR_SKIP : PH_TR_WAIT;
  case PH_TR_ONE_DONE:
    if (s + f >= 1)
      return PH_TR_RUN;
    return done >= n ? PH_TR_SKIP : PH_TR_WAIT;
  case PH_TR_NONE_FAILED:
    if (f + uf > 0)
      return PH_TR_UPSTREAM_FAILED;
    return s + sk >= n ? PH_TR_RUN : PH_TR_WAIT;
  case PH_TR_NONE_FAILED_MIN_ONE_SUCCESS:
    if (f + uf > 0)
      return PH_TR_UPSTREAM_FAILED;
    if (sk >= n)
      return PH_TR_SKIP;
    return s + sk >= n ? PH_TR_RUN : PH_TR_WAIT;
  case PH_TR_NONE_SKIPPED:
    if (sk > 0)
      return PH_TR_SKIP;
    return done >= n ? PH_TR_RUN : PH_TR_WAIT;
  case PH_TR_ALL_DONE_MIN_ONE_SUCCESS:
    if (sk > 0)
      return PH_TR_SKIP;
    if (s == 0 && s + f + uf >= n - sk)
      return PH_TR_UPSTREAM_FAILED;
    return done >= n && s >= 1 ? PH_TR_RUN : PH_TR_WAIT;
  default:
    return PH_TR_WAIT;
  }
}

char *ph_trigger_explain(int rule, const ph_tr_counts *c) {
  static const char *const wants[] = {
      "every upstream succeeded",
      "every upstream failed or is upstream_failed",
      "every upstream is done, whatever its state",
      "every upstream was skipped",
      "at least one upstream succeeded (it does not wait for the others)",
      "at least one upstream failed (it does not wait for the others)",
      "at least one upstream succeeded or failed (upstream_failed does not "
      "count)",
      "no upstream failed: all succeeded or were skipped (all skipped also "
      "runs)",
      "no upstream failed and at least one succeeded (all skipped means "
      "skipped)",
      "no upstream was skipped, once all are done",
      "nothing: it always runs",
      "no upstream skipped, all done, at least one succeeded"};
  int done = c->success + c->skipped + c->failed + c->upstream_failed;
  int d = ph_trigger_eval(rule, c);
  const char *verdict = d == PH_TR_RUN    ? "its dependencies are met"
                        : d == PH_TR_SKIP ? "so it is skipped"
                        : d == PH_TR_UPSTREAM_FAILED
                            ? "so it is upstream_failed"
                            : "it is waiting";
  return g_strdup_printf(
      "trigger rule %s runs when %s; upstreams: %d total, %d done "
      "(success %d, skipped %d, failed %d, upstream_failed %d), %d not "
      "finished: %s",
      ph_trigger_name(rule), rule >= 0 && rule < PH_TR_COUNT ? wants[rule] : "?",
      c->n, done, c->success, c->skipped, c->failed, c->upstream_failed,
      c->n - done, verdict);
}
