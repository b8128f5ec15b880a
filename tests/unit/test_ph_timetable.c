/* Timetables: Airflow 2 data intervals (a run for [start, end) is due at
 * end, ds = start), catchup on and off, fixed intervals, @once, manual,
 * start_date / end_date, a time zone with a DST change, bad input. */
#include <glib.h>
#include <string.h>

#include "ph_timetable.h"

static ph_timetable *tt(const char *json) {
  JsonNode *n = json_from_string(json, NULL);
  g_assert_nonnull(n);
  GError *err = NULL;
  ph_timetable *t = ph_timetable_new(json_node_get_object(n), &err);
  g_assert_no_error(err);
  json_node_unref(n);
  return t;
}

static gint64 at(const char *iso) {
  gint64 v;
  g_assert_true(ph_timetable_parse_time(iso, NULL, &v));
  return v;
}

static void assert_iv(GArray *a, guint i, const char *start, const char *end) {
  g_assert_cmpuint(a->len, >, i);
  ph_interval iv = g_array_index(a, ph_interval, i);
  g_assert_cmpint(iv.start, ==, at(start));
  g_assert_cmpint(iv.end, ==, at(end));
}

static void test_daily_catchup(void) {
  ph_timetable *t = tt("{\"schedule\": \"@daily\", \"start_date\": "
                       "\"2024-01-01\"}");
  g_assert_false(ph_timetable_is_manual(t));
  g_assert_true(ph_timetable_catchup(t));
  GArray *a = ph_timetable_due(t, G_MININT64, at("2024-01-03T12:00:00Z"));
  g_assert_cmpuint(a->len, ==, 2);
  assert_iv(a, 0, "2024-01-01T00:00:00Z", "2024-01-02T00:00:00Z");
  assert_iv(a, 1, "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z");
  g_array_free(a, TRUE);
  /* after the last created run, only what came since */
  a = ph_timetable_due(t, at("2024-01-01T00:00:00Z"),
                       at("2024-01-03T12:00:00Z"));
  g_assert_cmpuint(a->len, ==, 1);
  assert_iv(a, 0, "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z");
  g_array_free(a, TRUE);
  /* an interval is not due before its end */
  a = ph_timetable_due(t, G_MININT64, at("2024-01-01T23:59:59Z"));
  g_assert_cmpuint(a->len, ==, 0);
  g_array_free(a, TRUE);
  ph_timetable_free(t);
}

static void test_no_catchup(void) {
  ph_timetable *t = tt("{\"schedule\": \"@daily\", \"start_date\": "
                       "\"2024-01-01\", \"catchup\": false}");
  GArray *a = ph_timetable_due(t, G_MININT64, at("2024-01-10T12:00:00Z"));
  g_assert_cmpuint(a->len, ==, 1);
  assert_iv(a, 0, "2024-01-09T00:00:00Z", "2024-01-10T00:00:00Z");
  g_array_free(a, TRUE);
  /* already created: nothing */
  a = ph_timetable_due(t, at("2024-01-09T00:00:00Z"),
                       at("2024-01-10T12:00:00Z"));
  g_assert_cmpuint(a->len, ==, 0);
  g_array_free(a, TRUE);
  ph_timetable_free(t);
}

static void test_every(void) {
  ph_timetable *t = tt("{\"schedule\": \"every 30m\", \"start_date\": "
                       "\"2024-01-01T00:00:00Z\"}");
  GArray *a = ph_timetable_due(t, G_MININT64, at("2024-01-01T01:45:00Z"));
  g_assert_cmpuint(a->len, ==, 3);
  assert_iv(a, 2, "2024-01-01T01:00:00Z", "2024-01-01T01:30:00Z");
  g_array_free(a, TRUE);
  ph_timetable_free(t);
  t = tt("{\"schedule\": {\"every\": \"1h\"}, \"start_date\": "
         "\"2024-01-01T00:00:00Z\", \"catchup\": false}");
  a = ph_timetable_due(t, G_MININT64, at("2024-01-01T05:10:00Z"));
  g_assert_cmpuint(a->len, ==, 1);
  assert_iv(a, 0, "2024-01-01T04:00:00Z", "2024-01-01T05:00:00Z");
  g_array_free(a, TRUE);
  ph_timetable_free(t);
}

static void test_once_manual_end(void) {
  ph_timetable *t = tt("{\"schedule\": \"@once\", \"start_date\": "
                       "\"2024-01-05\"}");
  GArray *a = ph_timetable_due(t, G_MININT64, at("2024-02-01"));
  g_assert_cmpuint(a->len, ==, 1);
  g_array_free(a, TRUE);
  a = ph_timetable_due(t, at("2024-01-05"), at("2024-02-01"));
  g_assert_cmpuint(a->len, ==, 0);
  g_array_free(a, TRUE);
  ph_timetable_free(t);
  t = tt("{\"schedule\": null}");
  g_assert_true(ph_timetable_is_manual(t));
  a = ph_timetable_due(t, G_MININT64, at("2030-01-01"));
  g_assert_cmpuint(a->len, ==, 0);
  g_array_free(a, TRUE);
  ph_timetable_free(t);
  t = tt("{\"description\": \"no schedule key\"}");
  g_assert_true(ph_timetable_is_manual(t));
  ph_timetable_free(t);
  /* end_date: no interval starts after it; backfill bounds inclusive */
  t = tt("{\"schedule\": \"@daily\", \"start_date\": \"2024-01-01\", "
         "\"end_date\": \"2024-01-03\"}");
  a = ph_timetable_due(t, G_MININT64, at("2024-03-01"));
  g_assert_cmpuint(a->len, ==, 3);
  g_array_free(a, TRUE);
  a = ph_timetable_between(t, at("2024-01-02"), at("2024-01-10"));
  g_assert_cmpuint(a->len, ==, 2);
  assert_iv(a, 0, "2024-01-02T00:00:00Z", "2024-01-03T00:00:00Z");
  g_array_free(a, TRUE);
  ph_timetable_free(t);
}

static void test_timezone_dst(void) {
  /* 03:00 New York time; 2024-03-10 is the spring-forward day, so the
   * interval from the 9th to the 10th lasts 23 hours */
  ph_timetable *t = tt("{\"schedule\": \"0 3 * * *\", \"timezone\": "
                       "\"America/New_York\", \"start_date\": "
                       "\"2024-03-09\"}");
  ph_interval iv;
  g_assert_true(ph_timetable_next(t, G_MININT64, &iv));
  g_assert_cmpint(iv.start, ==, at("2024-03-09T08:00:00Z"));
  g_assert_cmpint(iv.end, ==, at("2024-03-10T07:00:00Z"));
  g_assert_cmpint(iv.end - iv.start, ==, 23 * 3600);
  ph_timetable_free(t);
}

static void test_errors(void) {
  static const char *const bad[][2] = {
      {"{\"schedule\": \"@daily\", \"timezone\": \"Mars/Olympus\"}",
       "timezone"},
      {"{\"schedule\": \"61 * * * *\"}", "schedule"},
      {"{\"schedule\": \"every 30m\"}", "start_date"},
      {"{\"schedule\": \"every 0s\", \"start_date\": \"2024-01-01\"}",
       "every"},
      {"{\"schedule\": \"@daily\", \"start_date\": \"yesterday\"}",
       "start_date"},
      {"{\"schedule\": \"@daily\", \"catchup\": \"yes\"}", "catchup"},
  };
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    JsonNode *n = json_from_string(bad[i][0], NULL);
    GError *err = NULL;
    ph_timetable *t = ph_timetable_new(json_node_get_object(n), &err);
    g_assert_null(t);
    g_assert_nonnull(err);
    if (!strstr(err->message, bad[i][1]))
      g_error("%s: '%s' does not name %s", bad[i][0], err->message,
              bad[i][1]);
    g_error_free(err);
    json_node_unref(n);
  }
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/timetable/daily_catchup", test_daily_catchup);
  g_test_add_func("/timetable/no_catchup", test_no_catchup);
  g_test_add_func("/timetable/every", test_every);
  g_test_add_func("/timetable/once_manual_end", test_once_manual_end);
  g_test_add_func("/timetable/timezone_dst", test_timezone_dst);
  g_test_add_func("/timetable/errors", test_errors);
  return g_test_run();
}
