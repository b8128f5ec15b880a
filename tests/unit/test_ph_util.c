#include <math.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <sys/stat.h>

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

/* Every double survives a write and a read: valid JSON, same value. */
static void test_json_write(void) {
  const double ds[] = {0.1,  1e20,   -1e-300, 5e-324, 1.7976931348623157e308,
                       2.0,  -0.5,   123456789.125, 1.0 / 3.0, 1e21, 100.0};
  for (gsize i = 0; i < G_N_ELEMENTS(ds); i++) {
    JsonNode *n = json_node_init_double(json_node_alloc(), ds[i]);
    g_autofree char *txt = ph_util_json_dup(n);
    GError *err = NULL;
    JsonNode *back = json_from_string(txt, &err);
    g_assert_no_error(err);
    g_assert_cmpint(json_node_get_value_type(back), ==, G_TYPE_DOUBLE);
    g_assert_cmpfloat(json_node_get_double(back), ==, ds[i]);
    json_node_unref(back);
    json_node_unref(n);
  }
  /* Python's repr of each (CPython 3.11: repr(10.0) and so on), the form
   * Airflow users see in XComs and templates */
  static const struct {
    double d;
    const char *text;
  } reprs[] = {{10.0, "10.0"},
               {100.0, "100.0"},
               {0.1, "0.1"},
               {1e20, "1e+20"},
               {1e16, "1e+16"},
               {1e15, "1000000000000000.0"},
               {0.0001, "0.0001"},
               {1e-05, "1e-05"},
               {2.5e-07, "2.5e-07"},
               {123456789.0, "123456789.0"},
               {-0.0, "-0.0"},
               {0.30000000000000004, "0.30000000000000004"},
               {5e-324, "5e-324"},
               {1.7976931348623157e308, "1.7976931348623157e+308"},
               {1.0 / 3.0, "0.3333333333333333"},
               {-1234.5, "-1234.5"}};
  for (gsize i = 0; i < G_N_ELEMENTS(reprs); i++) {
    JsonNode *n = json_node_init_double(json_node_alloc(), reprs[i].d);
    g_autofree char *txt = ph_util_json_dup(n);
    g_assert_cmpstr(txt, ==, reprs[i].text);
    json_node_unref(n);
  }
  /* shortest form: what a person wrote comes back out */
  JsonNode *n = json_from_string("{\"b\": [0.1, 1e+20, 2.0, -3, true, null],"
                                 " \"a\": \"q\\\"\\n\\u0001\"}",
                                 NULL);
  g_autofree char *c = ph_util_json_dup(n);
  g_assert_cmpstr(c, ==, "{\"b\":[0.1,1e+20,2.0,-3,true,null],"
                         "\"a\":\"q\\\"\\n\\u0001\"}");
  g_autofree char *k = ph_util_json_write(n, PH_JSON_CANONICAL);
  g_assert_cmpstr(k, ==, "{\"a\":\"q\\\"\\n\\u0001\","
                         "\"b\":[0.10000000000000001,1e+20,"
                         "2,-3,true,null]}");
  g_autofree char *p = ph_util_json_write(n, PH_JSON_PRETTY);
  g_assert_nonnull(strstr(p, "\n  \"b\": [\n    0.1,"));
  json_node_unref(n);
  /* NaN and infinities are not JSON: null */
  JsonNode *nan = json_node_init_double(json_node_alloc(), NAN);
  g_autofree char *tn = ph_util_json_dup(nan);
  g_assert_cmpstr(tn, ==, "null");
  json_node_unref(nan);
}

/* A file's stat identity stays while it is untouched and moves when it
 * is written (the scheduler's rescans and the plugin scan cache). */
static void test_stat_identity(void) {
  g_autofree char *dir = g_dir_make_tmp("ph-ident-XXXXXX", NULL);
  g_autofree char *f = g_build_filename(dir, "d.yaml", NULL);
  g_assert_true(g_file_set_contents(f, "a", -1, NULL));
  struct stat a, b, c;
  g_assert_cmpint(stat(f, &a), ==, 0);
  g_assert_cmpint(stat(f, &b), ==, 0);
  g_autofree char *ia = ph_util_stat_identity(&a);
  g_autofree char *ib = ph_util_stat_identity(&b);
  g_assert_cmpstr(ia, ==, ib);
  g_assert_true(g_file_set_contents(f, "b", -1, NULL)); /* same size */
  g_assert_cmpint(stat(f, &c), ==, 0);
  g_autofree char *ic = ph_util_stat_identity(&c);
  g_assert_cmpstr(ia, !=, ic);
  g_unlink(f);
  g_rmdir(dir);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/util/duration", test_duration);
  g_test_add_func("/util/stat_identity", test_stat_identity);
  g_test_add_func("/util/nearest", test_nearest);
  g_test_add_func("/util/falsy", test_falsy);
  g_test_add_func("/util/json_write", test_json_write);
  return g_test_run();
}
