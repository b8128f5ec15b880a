/* Trigger rules against Airflow's rule table (AIRFLOW.md §1.2). */
#include <glib.h>
#include <string.h>

#include "ph_trigger.h"

typedef struct {
  const char *rule;
  int n, s, sk, f, uf;
  int want;
} row;

#define W PH_TR_WAIT
#define R PH_TR_RUN
#define S PH_TR_SKIP
#define U PH_TR_UPSTREAM_FAILED

static const row rows[] = {
    {"all_success", 3, 3, 0, 0, 0, R},
    {"all_success", 3, 2, 0, 0, 0, W},
    {"all_success", 3, 1, 0, 1, 0, U}, /* fast: others still running */
    {"all_success", 3, 1, 1, 0, 0, S},
    {"all_success", 3, 0, 1, 1, 0, U}, /* failure checked before skip */
    {"all_success", 2, 1, 0, 0, 1, U},
    {"all_failed", 2, 0, 0, 2, 0, R},
    {"all_failed", 2, 0, 0, 1, 1, R},
    {"all_failed", 2, 1, 0, 0, 0, S},
    {"all_failed", 2, 0, 1, 0, 0, S},
    {"all_failed", 2, 0, 0, 1, 0, W},
    {"all_done", 3, 1, 1, 1, 0, R},
    {"all_done", 3, 1, 1, 0, 0, W},
    {"all_skipped", 2, 0, 2, 0, 0, R},
    {"all_skipped", 2, 1, 0, 0, 0, S},
    {"all_skipped", 2, 0, 1, 0, 0, W},
    {"one_success", 3, 1, 0, 0, 0, R},
    {"one_success", 3, 0, 2, 0, 0, W},
    {"one_success", 2, 0, 2, 0, 0, S},
    {"one_success", 2, 0, 1, 1, 0, U},
    {"one_failed", 3, 0, 0, 1, 0, R},
    {"one_failed", 3, 0, 0, 0, 1, R},
    {"one_failed", 2, 1, 1, 0, 0, S},
    {"one_failed", 2, 1, 0, 0, 0, W},
    {"one_done", 2, 1, 0, 0, 0, R},
    {"one_done", 2, 0, 0, 1, 0, R},
    {"one_done", 2, 0, 0, 0, 2, S}, /* upstream_failed is not "done" here */
    {"one_done", 2, 0, 1, 0, 1, S},
    {"one_done", 2, 0, 1, 0, 0, W},
    {"none_failed", 2, 1, 1, 0, 0, R},
    {"none_failed", 2, 0, 2, 0, 0, R}, /* all skipped runs */
    {"none_failed", 2, 1, 0, 1, 0, U},
    {"none_failed", 3, 1, 0, 0, 1, U},
    {"none_failed_min_one_success", 2, 1, 1, 0, 0, R},
    {"none_failed_min_one_success", 2, 0, 2, 0, 0, S},
    {"none_failed_min_one_success", 2, 0, 1, 1, 0, U},
    {"none_failed_min_one_success", 3, 1, 1, 0, 0, W},
    {"none_skipped", 2, 1, 0, 1, 0, R},
    {"none_skipped", 3, 1, 1, 0, 0, S}, /* fast */
    {"none_skipped", 2, 0, 0, 0, 2, R},
    {"always", 3, 0, 0, 0, 0, R},
    {"always", 2, 0, 0, 2, 0, R},
};

static void test_table(void) {
  for (gsize i = 0; i < G_N_ELEMENTS(rows); i++) {
    const row *r = &rows[i];
    int id = ph_trigger_from_name(r->rule);
    g_assert_cmpint(id, >=, 0);
    ph_tr_counts c = {r->n, r->s, r->sk, r->f, r->uf};
    int got = ph_trigger_eval(id, &c);
    if (got != r->want)
      g_error("row %zu: %s n=%d s=%d sk=%d f=%d uf=%d: want %d got %d", i,
              r->rule, r->n, r->s, r->sk, r->f, r->uf, r->want, got);
  }
}

static void test_no_upstream_runs(void) {
  ph_tr_counts c = {0};
  for (int i = 0; i < PH_TR_COUNT; i++)
    g_assert_cmpint(ph_trigger_eval(i, &c), ==, PH_TR_RUN);
}

static void test_names(void) {
  g_assert_cmpint(ph_trigger_from_name("nope"), ==, -1);
  for (int i = 0; i < PH_TR_COUNT; i++)
    g_assert_cmpint(ph_trigger_from_name(ph_trigger_name(i)), ==, i);
}

static void test_explain(void) {
  ph_tr_counts c = {3, 1, 0, 0, 0};
  g_autofree char *e =
      ph_trigger_explain(ph_trigger_from_name("all_success"), &c);
  g_assert_nonnull(strstr(e, "all_success"));
  g_assert_nonnull(strstr(e, "2 not finished"));
  g_assert_nonnull(strstr(e, "waiting"));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/trigger/table", test_table);
  g_test_add_func("/trigger/no_upstream", test_no_upstream_runs);
  g_test_add_func("/trigger/names", test_names);
  g_test_add_func("/trigger/explain", test_explain);
  return g_test_run();
}
