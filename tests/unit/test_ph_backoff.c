/* Backoff formulas against values computed with Python's hashlib from
 * Airflow's own code (AIRFLOW.md §3 and §4). */
#include <glib.h>

#include "ph_backoff.h"

/* Airflow's next_retry_datetime: values computed with Python's hashlib
 * on the same key (AIRFLOW.md §3). */
static void test_retry_delay(void) {
  const char *ld = "2024-01-01T00:00:00+00:00";
  g_assert_cmpfloat(ph_backoff_retry(30, 0, 0, "d", "t", ld, 3), ==, 30);
  g_assert_cmpfloat(ph_backoff_retry(30, 2, 3600, "d", "t", ld, 1), ==, 41);
  g_assert_cmpfloat(ph_backoff_retry(30, 2, 3600, "d", "t", ld, 2), ==, 97);
  g_assert_cmpfloat(ph_backoff_retry(30, 2, 3600, "d", "t", ld, 3), ==, 198);
  g_assert_cmpfloat(ph_backoff_retry(30, 2, 3600, "d", "t", ld, 5), ==, 957);
  g_assert_cmpfloat(ph_backoff_retry(30, 2, 3600, "d", "t", ld, 9), ==, 3600);
  g_assert_cmpfloat(ph_backoff_retry(30, 2, 3600, "d", "t", ld, 50), ==, 3600);
  g_assert_cmpfloat(ph_backoff_retry(30, 2, 0, "d", "t", ld, 5000), ==, 86400);
  g_assert_cmpfloat(ph_backoff_retry(0.5, 2, 0, "d", "t", ld, 1), ==, 1);
  g_assert_cmpfloat(ph_backoff_retry(240, 5, 0, "d", "t", ld, 2), ==, 2017);
}

static void test_poke(void) {
  const char *st = "2024-01-01T00:00:00+00:00";
  g_assert_cmpfloat(ph_backoff_poke(60, 1, "d", "s", st, 604800, 0, 0), ==, 35);
  g_assert_cmpfloat(ph_backoff_poke(60, 2, "d", "s", st, 604800, 0, 0), ==, 61);
  g_assert_cmpfloat(ph_backoff_poke(60, 3, "d", "s", st, 604800, 0, 0), ==, 227);
  g_assert_cmpfloat(ph_backoff_poke(60, 4, "d", "s", st, 604800, 0, 0), ==, 465);
  /* never past the timeout, never over max_wait */
  g_assert_cmpfloat(ph_backoff_poke(60, 3, "d", "s", st, 100, 90, 0), ==, 10);
  g_assert_cmpfloat(ph_backoff_poke(60, 4, "d", "s", st, 604800, 0, 50), ==, 50);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/backoff/retry", test_retry_delay);
  g_test_add_func("/backoff/poke", test_poke);
  return g_test_run();
}
