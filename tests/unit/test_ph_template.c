/* Template rendering: context variables, xcom_pull, filters, errors. */
#include <glib.h>
#include <string.h>

#include "ph_template.h"

static const char *ctx =
    "{\"ds\":\"2024-01-02\",\"ds_nodash\":\"20240102\",\"run_id\":\"r1\","
    "\"ts\":\"2024-01-02T03:04:05+00:00\","
    "\"logical_date\":\"2024-01-02T03:04:05+00:00\","
    "\"data_interval_start\":\"2024-01-01T00:00:00+00:00\","
    "\"data_interval_end\":\"2024-01-02T00:00:00+00:00\","
    "\"params\":{\"n\":3,\"who\":\"it's\"},"
    "\"ti\":{\"task_id\":\"t\",\"try_number\":2},"
    "\"task\":{\"task_id\":\"t\"},\"conf\":{\"c\":\"C\"},"
    "\"var\":{\"value\":{\"k\":\"v\"}},"
    "\"dag_run\":{\"run_id\":\"r1\",\"conf\":{\"x\":1}}}";

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
  eq("{{ ts }}", "2024-01-02T03:04:05+00:00");
  eq("{{ logical_date }}", "2024-01-02T03:04:05+00:00");
  eq("{{ data_interval_start }}..{{ data_interval_end }}",
     "2024-01-01T00:00:00+00:00..2024-01-02T00:00:00+00:00");
  eq("{{ task.task_id }}/{{ ti.task_id }}", "t/t");
  eq("{{ conf.c }} {{ dag_run.run_id }}", "C r1");
  eq("{{ params.missing }}", "");
  eq("{{ 1 / 3 }} {{ 2^53 }} {{ 7 // 2 }} {{ -0.5 }}",
     "0.33333333333333 9.007199254741e+15 3 -0.5");
  eq("{{ params.who .. '!' }}{{ #ds }}", "it's!10");
  eq("{{ {1, 'a', false} }}", "[1,\"a\",false]");
  eq("a {{ 1 }} b {{ 2 }} c", "a 1 b 2 c");
  eq("{{ '{' }}", "{");
  /* no context at all */
  GError *err = NULL;
  g_autofree char *r = ph_template_render("{{ 1 + 1 }}", NULL, NULL, NULL,
                                          &err);
  g_assert_no_error(err);
  g_assert_cmpstr(r, ==, "2");
}

static void test_xcom(void) {
  eq("{{ xcom_pull('a') }}", "A");
  eq("{{ ti.xcom_pull('a') }}", "A");
  eq("{{ ti:xcom_pull('a') }}", "A");
  eq("{{ xcom_pull('b', 'k').n }}", "5");
  eq("{{ xcom_pull{task_ids='b', key='k'}.n }}", "5");
  eq("{{ xcom_pull({'a', 'a'}) | json }}", "[\"A\",\"A\"]");
  eq("[{{ xcom_pull('zz') }}]", "[]");
  eq("{{ ti.xcom_pull{task_ids='a'} }}", "A");
  eq("{{ ti:xcom_pull{task_ids={'zz', 'a'}}[2] }}", "A");
  eq("{{ xcom_pull({'zz', 'a', 'b'})[2] }}|{{ xcom_pull({'zz', 'a'})[1] }}",
     "A|");
  eq("{{ #xcom_pull({'a', 'a', 'a'}) }}", "3");
  eq("{{ xcom_pull({'b'}, 'k')[1].n }}", "5");
  /* no xcom function: nothing is found */
  GError *err = NULL;
  g_autofree char *r =
      ph_template_render("[{{ xcom_pull('a') }}]", ctx, NULL, NULL, &err);
  g_assert_no_error(err);
  g_assert_cmpstr(r, ==, "[]");
}

static void test_filters(void) {
  eq("{{ params.who | shell_quote }}", "'it'\\''s'");
  eq("{{ params.who | upper }}", "IT'S");
  eq("{{ 'A' | lower }}", "a");
  eq("{{ ds | ds_nodash }}", "20240102");
  eq("{{ params | json }}", "{\"n\":3,\"who\":\"it's\"}");
  eq("{{ 6 | 1 }}", "7"); /* Lua's bitwise or is not a filter */
  eq("{{ params.who | upper | shell_quote }}", "'IT'\\''S'");
  eq("{{ \"a b; rm -rf /\" | shell_quote }}", "'a b; rm -rf /'");
  eq("{{ '' | shell_quote }}", "''");
  eq("{{ ts | ds_nodash }}", "20240102");
  eq("{{ 'x|y' | upper }}", "X|Y");
  eq("{{ ('a' .. '|' .. 'b') | upper }}", "A|B");
  eq("{{ params.n|json }}", "3");
  eq("{{ ' x ' | trim | upper }}", "X");
  eq("{{ 12 | json | shell_quote }}", "'12'");
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
  expect_error("ab {{ nope.y }}",
               "at position 3: attempt to index a nil value (global 'nope')");
  expect_error("{{ 1 }} and {{ error('bad') }}", "at position 12: bad");
  expect_error("ok {{ 1 }} {{ 2", "at position 11: '{{' is never closed");
  expect_error("{{ 1 + }}", "at position 0: unexpected symbol");
  expect_error("{{ 6 | nofilter }}", "at position 0:");
  /* the sandbox */
  expect_error("{{ os.execute('true') }}", "global 'os'");
  expect_error("{{ require('io') }}", "global 'require'");
  expect_error("{{ load('return 1')() }}", "global 'load'");
  expect_error("{{ dofile('/etc/passwd') }}", "global 'dofile'");
  expect_error("{{ setmetatable({}, {}) }}", "global 'setmetatable'");
  /* pcall is gone, so the time limit cannot be caught */
  expect_error("{{ pcall(function() while true do end end) }}",
               "global 'pcall'");
  expect_error("{{ string.rep('x', 1 << 27) }}", "not enough memory");
  expect_error("{{ (function() local t = {} t.t = t return t end)() }}",
               "nesting deeper than 64");
}

static void test_json(void) {
  GError *err = NULL;
  g_autofree char *r = ph_template_render_json(
      "{\"a\":[\"{{ ds }}\",1,{\"b\":\"{{ params.n }}\"}],\"c\":true}", ctx,
      pull, NULL, &err);
  g_assert_no_error(err);
  g_assert_cmpstr(r, ==, "{\"a\":[\"2024-01-02\",1,{\"b\":\"3\"}],\"c\":true}");
  /* keys stay, nested arrays of strings are rendered, no "{{": untouched */
  g_autofree char *r2 = ph_template_render_json(
      "[[\"{{ xcom_pull('a') }}\",[\"{{ 1+1 }}\"]],{\"{{ k }}\":\"x\"},null,"
      "1.5]",
      ctx, pull, NULL, &err);
  g_assert_no_error(err);
  g_assert_cmpstr(r2, ==, "[[\"A\",[\"2\"]],{\"{{ k }}\":\"x\"},null,1.5]");
  g_autofree char *r3 =
      ph_template_render_json("\"{{ ds_nodash }}\"", ctx, pull, NULL, &err);
  g_assert_no_error(err);
  g_assert_cmpstr(r3, ==, "\"20240102\"");
  /* the first failure stops it */
  char *r4 = ph_template_render_json("{\"a\":[\"ok\",\"{{ nope.x }}\"]}", ctx,
                                     pull, NULL, &err);
  g_assert_null(r4);
  g_assert_nonnull(strstr(err->message, "template error in '{{ nope.x }}' at "
                                        "position 0"));
  g_clear_error(&err);
  g_assert_null(ph_template_render_json("{not json", ctx, pull, NULL, &err));
  g_assert_nonnull(err);
  g_clear_error(&err);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/template/context", test_context);
  g_test_add_func("/template/xcom", test_xcom);
  g_test_add_func("/template/filters", test_filters);
  g_test_add_func("/template/errors", test_errors);
  g_test_add_func("/template/json", test_json);
  return g_test_run();
}
