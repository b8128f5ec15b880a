/* Template rendering: context variables, xcom_pull, filters, errors. */
#include <glib.h>
#include <string.h>

#include "ph_template.h"

static const char *ctx =
    "{\"ds\":\"2024-01-02\",\"ds_nodash\":\"20240102\",\"run_id\":\"r1\","
    "\"params\":{\"n\":3,\"who\":\"it's\"},\"ti\":{\"try_number\":2},"
    "\"var\":{\"value\":{\"k\":\"v\"}},\"dag_run\":{\"conf\":{\"x\":1}}}";

static char *pull(const char *task, const char *key, void *user) {
  (void)user;
  if (!strcmp(task, "a") && !strcmp(key, "return_value"))
    return g_strdup("\"A\"");
  if (!strcmp(task, "b") && !strcmp(key, "k"))
    return g_strdup("{\"n\":5}");
  return NULL;
}

static void eq(const char *tmpl, const char *want) {
  GError *err = NULL;
  g_autofree char *got = ph_template_render(tmpl, ctx, pull, NULL, &err);
  if (!got)
    g_error("%s: %s", tmpl, err->message);
  g_assert_cmpstr(got, ==, want);
}

static void test_context(void) {
  eq("no templates", "no templates");
  eq("{{ ds }}/{{ ds_nodash }}", "2024-01-02/20240102");
  eq("{{ params.n + 1 }}", "4");
  eq("{{ params.n / 2 }}", "1.5");
  eq("{{ ti.try_number }} {{ run_id }}", "2 r1");
  eq("{{ var.value.k }} {{ dag_run.conf.x }}", "v 1");
  eq("{{ string.upper(ds) }}", "2024-01-02");
  eq("{{ nil }}|{{ true }}", "|true");
  eq("{{ params }}", "{\"n\":3,\"who\":\"it's\"}");
}

static void test_xcom(void) {
  eq("{{ xcom_pull('a') }}", "A");
  eq("{{ ti.xcom_pull('a') }}", "A");
  eq("{{ ti:xcom_pull('a') }}", "A");
  eq("{{ xcom_pull('b', 'k').n }}", "5");
  eq("{{ xcom_pull{task_ids='b', key='k'}.n }}", "5");
  eq("{{ xcom_pull({'a', 'a'}) | json }}", "[\"A\",\"A\"]");
  eq("[{{ xcom_pull('zz') }}]", "[]");
}

static void test_filters(void) {
  eq("{{ params.who | shell_quote }}", "'it'\\''s'");
  eq("{{ params.who | upper }}", "IT'S");
  eq("{{ 'A' | lower }}", "a");
  eq("{{ ds | ds_nodash }}", "20240102");
  eq("{{ params | json }}", "{\"n\":3,\"who\":\"it's\"}");
  eq("{{ 6 | 1 }}", "7"); /* Lua's bitwise or is not a filter */
  eq("{{ params.who | upper | shell_quote }}", "'IT'\\''S'");
}

static void expect_error(const char *tmpl, const char *want) {
  GError *err = NULL;
  char *got = ph_template_render(tmpl, ctx, pull, NULL, &err);
  g_assert_null(got);
  if (!strstr(err->message, want))
    g_error("expected '%s' in: %s", want, err->message);
  g_assert_nonnull(strstr(err->message, tmpl));
  g_error_free(err);
}

static void test_errors(void) {
  expect_error("echo {{ 1 + ", "at position 5: '{{' is never closed");
  expect_error("x {{ nope.y }}", "at position 2:");
  expect_error("{{ }}", "empty expression");
  expect_error("{{ io.open('/etc/passwd') }}", "io");
  expect_error("{{ (function() while true do end end)() }}", "too long");
}

static void test_json(void) {
  GError *err = NULL;
  g_autofree char *r = ph_template_render_json(
      "{\"a\":[\"{{ ds }}\",1,{\"b\":\"{{ params.n }}\"}],\"c\":true}", ctx,
      pull, NULL, &err);
  g_assert_no_error(err);
  g_assert_cmpstr(r, ==, "{\"a\":[\"2024-01-02\",1,{\"b\":\"3\"}],\"c\":true}");
}

/* Text without {{ or {% renders as itself; the worker skips rendering
 * it (and ph_template_calls_patterns looks no further). */
static void test_markers(void) {
  g_assert_true(ph_template_has_markers("x {{ ds }}"));
  g_assert_true(ph_template_has_markers("{% if a %}b{% endif %}"));
  g_assert_false(ph_template_has_markers("\"1\""));
  g_assert_false(ph_template_has_markers("{ a } %}"));
  g_assert_false(ph_template_has_markers(NULL));
  g_assert_false(ph_template_calls_patterns("x:find('y')"));
  g_assert_true(ph_template_calls_patterns("{{ x:find('y') }}"));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/template/context", test_context);
  g_test_add_func("/template/xcom", test_xcom);
  g_test_add_func("/template/filters", test_filters);
  g_test_add_func("/template/errors", test_errors);
  g_test_add_func("/template/json", test_json);
  g_test_add_func("/template/markers", test_markers);
  return g_test_run();
}
