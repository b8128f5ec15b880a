/* Cron against croniter's published test vectors
 * (pallets-eco/croniter src/croniter/tests/test_croniter.py), plus the
 * rules AIRFLOW.md §9 lists: 7 is Sunday, a name range ending in sun, OR
 * of restricted day fields, next strictly after the start, presets. */
#include <glib.h>
#include <string.h>

#include "ph_cron.h"

/* Asserts the first len(want) fire times after start (UTC wall clock). */
static void vec(const char *expr, const char *start, const char *const *want) {
  GError *err = NULL;
  ph_cron *c = ph_cron_parse(expr, &err);
  if (!c)
    g_error("%s: %s", expr, err->message);
  GTimeZone *utc = g_time_zone_new_utc();
  GDateTime *t = g_date_time_new_from_iso8601(start, utc);
  g_assert_nonnull(t);
  for (int i = 0; want[i]; i++) {
    GDateTime *n = ph_cron_next(c, t);
    g_assert_nonnull(n);
    g_autofree char *got = g_date_time_format(n, "%Y-%m-%dT%H:%M");
    if (strcmp(got, want[i]))
      g_error("%s from %s, #%d: want %s got %s", expr, start, i + 1, want[i],
              got);
    g_date_time_unref(t);
    t = n;
  }
  g_date_time_unref(t);
  g_time_zone_unref(utc);
  ph_cron_free(c);
}

#define V(expr, start, ...)                                                    \
  do {                                                                         \
    const char *const w[] = {__VA_ARGS__, NULL};                               \
    vec(expr, start, w);                                                       \
  } while (0)

static void test_croniter_vectors(void) {
  /* test_minute */
  V("*/5 * * * *", "2010-01-23T12:18:00Z", "2010-01-23T12:20",
    "2010-01-23T12:25");
  /* test_hour: 15, then two more, then 00:00 on the 25th */
  V("0 */3 * * *", "2010-01-24T12:02:00Z", "2010-01-24T15:00",
    "2010-01-24T18:00", "2010-01-24T21:00", "2010-01-25T00:00");
  /* test_day: 1 4 7 ... 25 28, then March 1 */
  V("0 0 */3 * *", "2010-02-24T12:09:00Z", "2010-02-25T00:00",
    "2010-02-28T00:00", "2010-03-01T00:00");
  /* test_day: leap years */
  V("0 0 * * *", "1996-02-27T00:00:00Z", "1996-02-28T00:00",
    "1996-02-29T00:00");
  V("0 0 * * *", "2000-02-27T00:00:00Z", "2000-02-28T00:00",
    "2000-02-29T00:00");
  /* test_weekday */
  V("0 0 * * sat", "2010-02-25T00:00:00Z", "2010-02-27T00:00",
    "2010-03-06T00:00");
  V("0 0 1 * wed", "2010-01-25T00:00:00Z", "2010-01-27T00:00",
    "2010-02-01T00:00", "2010-02-03T00:00");
  /* test_dom_dow_vixie_cron_bug: union of odd days and Saturdays */
  V("0 16 */2 * sat", "2023-05-02T00:00:00Z", "2023-05-03T16:00",
    "2023-05-05T16:00", "2023-05-06T16:00", "2023-05-07T16:00");
  /* test_month */
  V("0 0 1 * *", "2010-01-25T00:00:00Z", "2010-02-01T00:00",
    "2010-03-01T00:00");
  /* test_sunday_to_thursday_with_alpha_conversion (a Wednesday) */
  V("30 22 * * sun-thu", "2010-08-25T15:56:00Z", "2010-08-25T22:30");
}

static void test_rules(void) {
  /* next is strictly after the start; seconds are dropped */
  V("0 10 * * *", "2024-01-01T10:00:00Z", "2024-01-02T10:00");
  V("0 10 * * *", "2024-01-01T09:59:59Z", "2024-01-01T10:00");
  /* 7 is Sunday; 2024-01-01 is a Monday */
  V("0 0 * * 7", "2024-01-01T00:00:00Z", "2024-01-07T00:00");
  /* a name range ending in sun */
  V("0 0 * * fri-sun", "2024-01-01T00:00:00Z", "2024-01-05T00:00",
    "2024-01-06T00:00", "2024-01-07T00:00");
  /* a/n means a to the maximum, step n */
  V("5/20 * * * *", "2024-01-01T00:00:00Z", "2024-01-01T00:05",
    "2024-01-01T00:25", "2024-01-01T00:45", "2024-01-01T01:05");
  /* lists, ranges with steps, month names */
  V("0 9-17/4 * jan,jul *", "2024-06-30T23:00:00Z", "2024-07-01T09:00",
    "2024-07-01T13:00", "2024-07-01T17:00", "2024-07-02T09:00");
  /* presets */
  V("@hourly", "2024-01-01T00:30:00Z", "2024-01-01T01:00");
  V("@daily", "2024-01-01T00:30:00Z", "2024-01-02T00:00");
  V("@weekly", "2024-01-01T00:30:00Z", "2024-01-07T00:00");
  V("@monthly", "2024-01-15T00:00:00Z", "2024-02-01T00:00");
  V("@yearly", "2024-01-15T00:00:00Z", "2025-01-01T00:00");
  V("@quarterly", "2024-01-15T00:00:00Z", "2024-04-01T00:00");
}

static void test_errors(void) {
  /* test_error */
  const char *bad[] = {"* * * *", "-90 * * * *", "a * * * *",
                       "* * * janu-jun *", "0-10/ * * * *", "* * 5-100 * *",
                       "0 0 1 13 0", "61 * * * *", NULL};
  for (int i = 0; bad[i]; i++) {
    GError *err = NULL;
    g_assert_null(ph_cron_parse(bad[i], &err));
    g_assert_nonnull(err);
    g_error_free(err);
  }
  GError *err = NULL;
  g_assert_null(ph_cron_parse("0 0 1 13 0", &err));
  g_assert_nonnull(strstr(err->message, "month field '13'"));
  g_error_free(err);
  /* valid but never fires */
  ph_cron *c = ph_cron_parse("0 0 30 2 *", NULL);
  GDateTime *t = g_date_time_new_utc(2024, 1, 1, 0, 0, 0);
  g_assert_null(ph_cron_next(c, t));
  g_date_time_unref(t);
  ph_cron_free(c);
}

static void test_zone(void) {
  /* wall clock of the zone: 06:00 in Zurich is 05:00Z in winter, 04:00Z
   * in summer; across the spring-forward night it still fires daily */
  GTimeZone *z = g_time_zone_new_identifier("Europe/Zurich");
  if (!z) {
    g_test_skip("no tzdata for Europe/Zurich");
    return;
  }
  ph_cron *c = ph_cron_parse("0 6 * * *", NULL);
  GDateTime *t = g_date_time_new(z, 2023, 3, 24, 12, 0, 0);
  const char *want[] = {"2023-03-25T05:00Z", "2023-03-26T04:00Z",
                        "2023-03-27T04:00Z"};
  for (int i = 0; i < 3; i++) {
    GDateTime *n = ph_cron_next(c, t);
    GDateTime *u = g_date_time_to_utc(n);
    g_autofree char *got = g_date_time_format(u, "%Y-%m-%dT%H:%MZ");
    g_assert_cmpstr(got, ==, want[i]);
    g_date_time_unref(u);
    g_date_time_unref(t);
    t = n;
  }
  /* 02:30 does not exist on 2023-03-26 in Zurich: fires at the first
   * existing minute after it, once */
  ph_cron *c2 = ph_cron_parse("30 2 * * *", NULL);
  GDateTime *t2 = g_date_time_new(z, 2023, 3, 25, 12, 0, 0);
  GDateTime *n2 = ph_cron_next(c2, t2);
  g_assert_cmpint(g_date_time_get_day_of_month(n2), ==, 26);
  g_assert_cmpint(g_date_time_get_hour(n2), ==, 3);
  g_date_time_unref(n2);
  g_date_time_unref(t2);
  ph_cron_free(c2);
  g_date_time_unref(t);
  ph_cron_free(c);
  g_time_zone_unref(z);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/cron/croniter_vectors", test_croniter_vectors);
  g_test_add_func("/cron/rules", test_rules);
  g_test_add_func("/cron/errors", test_errors);
  g_test_add_func("/cron/zone", test_zone);
  return g_test_run();
}
