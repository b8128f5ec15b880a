#include <glib.h>

#include "ph_util.h"

static double dur(const char *json) {
  JsonNode *n = json_from_string(json, NULL);
  double d = -1;
  if (!ph_util_parse_duration(n, &d))
    d = -1;
  json_node_unref(n);
  return d;
}

static void test_duration(void) {
  g_assert_cmpfloat(dur("30"), ==, 30);
  g_assert_cmpfloat(dur("1.5"), ==, 1.5);
  g_assert_cmpfloat(dur("\"30s\""), ==, 30);
  g_assert_cmpfloat(dur("\"5m\""), ==, 300);
  g_assert_cmpfloat(dur("\"2h\""), ==, 7200);
  g_assert_cmpfloat(dur("\"1d\""), ==, 86400);
  g_assert_cmpfloat(dur("\"250ms\""), ==, 0.25);
  g_assert_cmpfloat(dur("\"soon\""), ==, -1);
  g_assert_cmpfloat(dur("\"5x\""), ==, -1);
  g_assert_cmpfloat(dur("-3"), ==, -1);
  g_assert_cmpfloat(dur("true"), ==, -1);
}

static void test_nearest(void) {
  const char *c[] = {"bash", "empty", "lua", "branch", NULL};
  g_assert_cmpstr(ph_util_nearest("bsh", c), ==, "bash");
  g_assert_cmpstr(ph_util_nearest("brnach", c), ==, "branch");
  g_assert_null(ph_util_nearest("kubernetes", c));
  g_assert_cmpuint(ph_util_edit_distance("kitten", "sitting"), ==, 3);
  g_assert_cmpuint(ph_util_edit_distance("", "abc"), ==, 3);
}

static void test_falsy(void) {
  const char *f[] = {"null", "false", "0", "0.0", "\"\"", "[]", "{}"};
  const char *t[] = {"true", "1", "\"0\"", "[0]", "{\"a\":1}", "-1"};
  for (gsize i = 0; i < G_N_ELEMENTS(f); i++) {
    JsonNode *n = json_from_string(f[i], NULL);
    g_assert_true(ph_util_json_falsy(n));
    json_node_unref(n);
  }
  for (gsize i = 0; i < G_N_ELEMENTS(t); i++) {
    JsonNode *n = json_from_string(t[i], NULL);
    g_assert_false(ph_util_json_falsy(n));
    json_node_unref(n);
  }
  g_assert_true(ph_util_json_falsy(NULL));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/util/duration", test_duration);
  g_test_add_func("/util/nearest", test_nearest);
  g_test_add_func("/util/falsy", test_falsy);
  return g_test_run();
}
