/* The YAML DAG loader: the model it fills (ids, ops, args, edges, lines),
 * scalar typing, and clean errors on malformed or hostile input. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "ph_dag.h"
#include "ph_yaml.h"

static char *tmpdir;

static char *write_tmp(const char *name, const char *text, gssize len) {
  char *p = g_build_filename(tmpdir, name, NULL);
  g_assert_true(g_file_set_contents(p, text, len, NULL));
  return p;
}

static char *all_errors(ph_dag *d) {
  GString *s = g_string_new(NULL);
  for (guint i = 0; d && i < ph_dag_n_errors(d); i++)
    g_string_append_printf(s, "%s\n", ph_dag_get_error(d, i));
  return g_string_free(s, FALSE);
}

static char *member_json(JsonObject *o, const char *k) {
  JsonNode *n = json_object_get_member(o, k);
  return n ? json_to_string(n, FALSE) : g_strdup("(absent)");
}

static void assert_edge(ph_dag *d, guint i, const char *up, const char *down,
                        int line) {
  const char *u, *v;
  int l;
  g_assert_cmpuint(i, <, ph_dag_n_edges(d));
  ph_dag_get_edge(d, i, &u, &v, &l);
  g_assert_cmpstr(u, ==, up);
  g_assert_cmpstr(v, ==, down);
  g_assert_cmpint(l, ==, line);
}

/* Loads text as a YAML DAG that must parse; returns the model. */
static ph_dag *load_text(const char *text) {
  g_autofree char *p = write_tmp("t.yaml", text, -1);
  GError *err = NULL;
  ph_dag *d = ph_yaml_load(p, &err);
  g_assert_no_error(err);
  g_assert_nonnull(d);
  return d;
}

/* Loads text and returns the GError message, or the model's errors. */
static char *load_errors(const char *text, gssize len) {
  g_autofree char *p = write_tmp("e.yaml", text, len);
  GError *err = NULL;
  ph_dag *d = ph_yaml_load(p, &err);
  char *msg;
  if (d) {
    g_assert_null(err);
    msg = all_errors(d);
  } else {
    g_assert_nonnull(err);
    msg = g_strdup(err->message);
    g_error_free(err);
  }
  ph_dag_free(d);
  return msg;
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle))
    g_error("expected \"%s\" in: %s", needle, hay);
}

static void test_minimal(void) {
  g_autofree char *f = g_build_filename(PH_FIXTURES, "hello.yaml", NULL);
  GError *err = NULL;
  ph_dag *d = ph_yaml_load(f, &err);
  g_assert_no_error(err);
  g_autofree char *errs = all_errors(d);
  g_assert_cmpstr(errs, ==, "");
  g_assert_cmpint(ph_dag_get_kind(d), ==, PH_DAG_YAML);
  g_assert_cmpstr(ph_dag_get_file(d), ==, f);
  g_assert_cmpstr(ph_dag_get_id(d), ==, "hello");
  g_assert_cmpint(ph_dag_get_line(d), ==, 1);
  JsonObject *args = ph_dag_get_args(d);
  g_assert_cmpstr(json_object_get_string_member(args, "schedule"), ==,
                  "@daily");
  g_autofree char *params = member_json(args, "params");
  g_assert_cmpstr(params, ==, "{\"n\":3}");
  g_assert_false(json_object_has_member(args, "id"));
  g_assert_false(json_object_has_member(args, "default_args"));
  g_assert_cmpint(
      json_object_get_int_member(ph_dag_get_default_args(d), "retries"), ==,
      0);
  g_assert_cmpint(ph_dag_get_arg_line(d, "default_args.retries"), ==, 1);
  g_assert_cmpint(ph_dag_get_arg_line(d, "schedule"), ==, 1);

  g_assert_cmpuint(ph_dag_n_tasks(d), ==, 4);
  const char *ids[] = {"extract", "report", "a", "pick"};
  const int lines[] = {3, 4, 5, 10};
  for (guint i = 0; i < 4; i++) {
    ph_dag_task *t = ph_dag_get_task(d, i);
    g_assert_cmpstr(ph_dag_task_get_id(t), ==, ids[i]);
    g_assert_cmpint(ph_dag_task_get_line(t), ==, lines[i]);
    g_assert_true(ph_dag_lookup(d, ids[i]) == t);
  }
  ph_dag_task *rep = ph_dag_lookup(d, "report");
  g_assert_cmpstr(ph_dag_task_get_op(rep), ==, "bash");
  JsonObject *ra = ph_dag_task_get_args(rep);
  g_assert_cmpuint(json_object_get_size(ra), ==, 2); /* no op, no upstream */
  g_assert_cmpstr(json_object_get_string_member(ra, "command"), ==,
                  "echo done");
  g_assert_cmpstr(json_object_get_string_member(ra, "trigger_rule"), ==,
                  "all_success");
  ph_dag_task *a = ph_dag_lookup(d, "a");
  g_assert_cmpint(ph_dag_task_get_op_line(a), ==, 6);
  g_assert_cmpint(ph_dag_task_get_arg_line(a, "command"), ==, 7);
  g_assert_cmpint(ph_dag_task_get_arg_line(a, "env"), ==, 9);
  g_autofree char *env = member_json(ph_dag_task_get_args(a), "env");
  g_assert_cmpstr(env, ==, "{\"K\":\"v\",\"N\":1.5,\"L\":[1,\"two\",true]}");
  g_assert_cmpstr(ph_dag_task_get_op(ph_dag_lookup(d, "pick")), ==, "branch");

  g_assert_cmpuint(ph_dag_n_edges(d), ==, 3);
  assert_edge(d, 0, "extract", "report", 4);
  assert_edge(d, 1, "extract", "a", 8);
  assert_edge(d, 2, "extract", "pick", 10);
  ph_dag_free(d);
}

static void test_scalars(void) {
  ph_dag *d = load_text(
      "dag: {id: s}\n"
      "tasks:\n"
      "  a:\n"
      "    op: x\n"
      "    i: 12\n"
      "    neg: -5\n"
      "    pos: +3\n"
      "    hex: 0x1F\n"
      "    oct: 0o17\n"
      "    f: 1.5\n"
      "    e: 1e3\n"
      "    dot: .5\n"
      "    big: 99999999999999999999\n"
      "    t1: true\n"
      "    t2: True\n"
      "    t3: TRUE\n"
      "    f1: False\n"
      "    yes: yes\n"
      "    n1: null\n"
      "    n2: ~\n"
      "    n3:\n"
      "    n4: NULL\n"
      "    q1: \"12\"\n"
      "    q2: 'true'\n"
      "    q3: \"\"\n"
      "    s: abc def\n"
      "    hx: 0x\n"
      "    hm: 0x-5\n"
      "    inf: .inf\n"
      "    ver: 1.2.3\n"
      "    l: [1, two, 3.0]\n"
      "    o: {k: v}\n");
  JsonObject *a = ph_dag_task_get_args(ph_dag_lookup(d, "a"));
  const char *want[][2] = {
      {"i", "12"},       {"neg", "-5"},        {"pos", "3"},
      {"hex", "31"},     {"oct", "15"},        {"f", "1.5"},
      {"e", "1000.0"},   {"dot", "0.5"},
      {"t1", "true"},    {"t2", "true"},       {"t3", "true"},
      {"f1", "false"},   {"yes", "\"yes\""},   {"n1", "null"},
      {"n2", "null"},    {"n3", "null"},       {"n4", "null"},
      {"q1", "\"12\""},  {"q2", "\"true\""},   {"q3", "\"\""},
      {"s", "\"abc def\""}, {"hx", "\"0x\""},  {"hm", "\"0x-5\""},
      {"inf", "\".inf\""}, {"ver", "\"1.2.3\""}, {"l", "[1,\"two\",3.0]"},
      {"o", "{\"k\":\"v\"}"}};
  for (gsize i = 0; i < G_N_ELEMENTS(want); i++) {
    g_autofree char *got = member_json(a, want[i][0]);
    if (g_strcmp0(got, want[i][1]))
      g_error("%s: got %s, want %s", want[i][0], got, want[i][1]);
  }
  /* types, not just texts */
  g_assert_true(json_node_get_value_type(json_object_get_member(a, "i")) ==
                G_TYPE_INT64);
  g_assert_true(json_node_get_value_type(json_object_get_member(a, "e")) ==
                G_TYPE_DOUBLE);
  /* past int64: a double */
  g_assert_cmpfloat(json_object_get_double_member(a, "big"), ==, 1e20);
  ph_dag_free(d);
}

static void test_upstream(void) {
  ph_dag *d = load_text("dag: {id: u}\n"
                        "tasks:\n"
                        "  a: {op: x}\n"
                        "  b: {op: x, upstream: a}\n"
                        "  c:\n"
                        "    op: x\n"
                        "    upstream:\n"
                        "      - a\n"
                        "      - b\n"
                        "  d: {op: x, upstream: []}\n"
                        "  e: {op: x, upstream: ~}\n");
  g_autofree char *errs = all_errors(d);
  g_assert_cmpstr(errs, ==, "");
  g_assert_cmpuint(ph_dag_n_edges(d), ==, 3);
  assert_edge(d, 0, "a", "b", 4);
  assert_edge(d, 1, "a", "c", 8);
  assert_edge(d, 2, "b", "c", 9);
  g_assert_false(
      json_object_has_member(ph_dag_task_get_args(ph_dag_lookup(d, "c")),
                             "upstream"));
  ph_dag_free(d);
  g_autofree char *m =
      load_errors("dag: {id: u}\ntasks:\n  a: {op: x, upstream: {b: 1}}\n", -1);
  assert_contains(m, "e.yaml:3: task 'a': upstream must be a task id or a "
                     "list");
}

static void test_duplicates(void) {
  g_autofree char *m1 =
      load_errors("dag: {id: x}\ntasks:\n  a: {op: x, k: 1,\n      k: 2}\n", -1);
  assert_contains(m1, "e.yaml:4: task 'a': duplicate key 'k'");
  g_autofree char *m2 = load_errors(
      "dag: {id: x}\ntasks:\n  a: {op: bash}\n  b: {op: x}\n  a: {op: y}\n",
      -1);
  assert_contains(m2, "e.yaml:5: duplicate task id 'a' (first defined at "
                      "line 3)");
  g_autofree char *m3 =
      load_errors("dag: {id: x, id: y}\ntasks: {}\n", -1);
  assert_contains(m3, "e.yaml:1: dag: duplicate key 'id'");
  g_autofree char *m4 = load_errors(
      "dag: {id: x, default_args: {retries: 1, retries: 2}}\n", -1);
  assert_contains(m4, "e.yaml:1: default_args: duplicate key 'retries'");
  g_autofree char *m5 = load_errors(
      "dag: {id: x}\ntasks: {a: {op: x, v: {p: 1, p: 2}}}\n", -1);
  assert_contains(m5, "e.yaml:2: duplicate key 'p'");
  g_autofree char *m6 = load_errors("dag: {id: x}\ndag: {id: y}\n", -1);
  assert_contains(m6, "e.yaml:2: top level: duplicate key 'dag'");
}

static void test_structure_errors(void) {
  g_autofree char *m1 =
      load_errors("dag: {id: x}\n\ntask:\n  a: {op: bash}\n", -1);
  assert_contains(m1, "e.yaml:3: unknown top-level key 'task'; a DAG file "
                      "has 'dag' and 'tasks'");
  g_autofree char *m2 =
      load_errors("dag: {id: x}\ntasks:\n  a: {command: x}\n", -1);
  assert_contains(m2, "e.yaml:3: task 'a' has no 'op'");
  g_autofree char *m3 = load_errors("tasks: {}\n", -1);
  assert_contains(m3, "no 'dag' section");
  g_autofree char *m4 = load_errors("- a\n- b\n", -1);
  assert_contains(m4, "e.yaml:1: expected a mapping with 'dag' and 'tasks'");
  g_autofree char *m5 = load_errors("dag: {id: x}\ntasks:\n  a: bash\n", -1);
  assert_contains(m5, "e.yaml:3: task 'a' must be a mapping");
  g_autofree char *m6 = load_errors("dag: {id: x}\n---\ndag: {id: y}\n", -1);
  assert_contains(m6, "e.yaml:3: a second YAML document");
  g_autofree char *m7 = load_errors("dag: [x]\n", -1);
  assert_contains(m7, "e.yaml:1: 'dag' must be a mapping");
}

static void test_syntax_error(void) {
  g_autofree char *m1 =
      load_errors("dag: {id: x}\ntasks:\n  a: b: c\n", -1);
  g_autofree char *w1 = g_build_filename(
      tmpdir, "e.yaml:3:7: mapping values are not allowed in this context",
      NULL);
  g_assert_cmpstr(m1, ==, w1);
  g_autofree char *m2 =
      load_errors("dag: {id: x}\ntasks:\n  a: {op: bash, command: [x\n", -1);
  g_autofree char *w2 = g_build_filename(tmpdir, "e.yaml:4:1: ", NULL);
  g_assert_true(g_str_has_prefix(m2, w2));
  assert_contains(m2, "while parsing a flow sequence");
  g_autofree char *m3 = load_errors("dag: {id: x}\n\ttasks: {}\n", -1);
  assert_contains(m3, "e.yaml:2:1: found character that cannot start any "
                      "token");
}

static void test_empty(void) {
  g_autofree char *p = write_tmp("empty.yaml", "", 0);
  g_autofree char *want = g_strdup_printf(
      "%s: empty DAG file; expected a mapping with 'dag' and 'tasks'", p);
  g_autofree char *m1 = load_errors("", 0);
  g_assert_true(g_str_has_suffix(m1, "e.yaml: empty DAG file; expected a "
                                     "mapping with 'dag' and 'tasks'"));
  g_autofree char *m2 = load_errors("# only a comment\n\n", -1);
  assert_contains(m2, "e.yaml: empty DAG file");
  GError *err = NULL;
  g_assert_null(ph_yaml_load(p, &err));
  g_assert_cmpstr(err->message, ==, want);
  g_error_free(err);
}

static void test_missing_file(void) {
  g_autofree char *p = g_build_filename(tmpdir, "nope.yaml", NULL);
  GError *err = NULL;
  g_assert_null(ph_yaml_load(p, &err));
  g_assert_nonnull(err);
  g_assert_true(g_str_has_prefix(err->message, p));
  g_error_free(err);
}

static void test_deep_nesting(void) {
  GString *s = g_string_new("dag: {id: x}\ntasks:\n  a: {op: x, v: ");
  for (int i = 0; i < 100; i++)
    g_string_append_c(s, '[');
  for (int i = 0; i < 100; i++)
    g_string_append_c(s, ']');
  g_string_append(s, "}\n");
  g_autofree char *m = load_errors(s->str, -1);
  assert_contains(m, "e.yaml:3: nesting deeper than 64 levels");
  /* much deeper: refused by libyaml or by us, but never a crash */
  g_string_assign(s, "dag: {id: x}\ntasks:\n  a: {op: x, v: ");
  for (int i = 0; i < 200000; i++)
    g_string_append_c(s, '[');
  gint64 t0 = g_get_monotonic_time();
  g_autofree char *m2 = load_errors(s->str, -1);
  g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
  assert_contains(m2, "e.yaml:3:");
  assert_contains(m2, "nesting deeper than 64 levels");
  /* 64 levels are fine */
  g_string_assign(s, "dag: {id: x}\ntasks:\n  a: {op: x, v: ");
  for (int i = 0; i < 63; i++)
    g_string_append_c(s, '[');
  for (int i = 0; i < 63; i++)
    g_string_append_c(s, ']');
  g_string_append(s, "}\n");
  g_autofree char *m3 = load_errors(s->str, -1);
  g_assert_cmpstr(m3, ==, "");
  g_string_free(s, TRUE);
}

static void test_invalid_utf8(void) {
  g_autofree char *m =
      load_errors("dag: {id: x}\ntasks:\n  a: {op: \"\xff\xfe\"}\n", -1);
  assert_contains(m, "e.yaml:3: invalid UTF-8 (byte 0xff");
  g_assert_true(g_utf8_validate(m, -1, NULL));
  /* valid UTF-8 that YAML refuses (a control character): file:line:col */
  g_autofree char *m2 =
      load_errors("dag: {id: x}\ntasks:\n  a: {op: b\x01}\n", -1);
  assert_contains(m2, "e.yaml:3:");
  assert_contains(m2, "control characters are not allowed");
}

static void test_aliases(void) {
  ph_dag *d = load_text("dag: {id: x}\n"
                        "tasks:\n"
                        "  a: {op: x, env: &e {K: v, L: [1, 2]}}\n"
                        "  b: {op: x, env: *e}\n");
  g_autofree char *ea =
      member_json(ph_dag_task_get_args(ph_dag_lookup(d, "a")), "env");
  g_autofree char *eb =
      member_json(ph_dag_task_get_args(ph_dag_lookup(d, "b")), "env");
  g_assert_cmpstr(ea, ==, "{\"K\":\"v\",\"L\":[1,2]}");
  g_assert_cmpstr(ea, ==, eb);
  ph_dag_free(d);
  /* billion laughs: refused quickly */
  GString *s = g_string_new("dag: {id: x}\ntasks:\n  a:\n    op: x\n"
                            "    x0: &x0 [lol, lol, lol, lol, lol, lol, lol, "
                            "lol, lol, lol]\n");
  for (int i = 1; i < 10; i++) {
    g_string_append_printf(s, "    x%d: &x%d [", i, i);
    for (int j = 0; j < 10; j++)
      g_string_append_printf(s, "%s*x%d", j ? ", " : "", i - 1);
    g_string_append(s, "]\n");
  }
  gint64 t0 = g_get_monotonic_time();
  g_autofree char *m = load_errors(s->str, -1);
  g_assert_cmpint(g_get_monotonic_time() - t0, <, 10 * G_USEC_PER_SEC);
  assert_contains(m, "aliases expand this file");
  g_string_free(s, TRUE);
  /* a self-referencing alias ends too */
  g_autofree char *m2 =
      load_errors("dag: {id: x}\ntasks: {a: {op: x, v: &a [*a, *a]}}\n", -1);
  g_assert_true(strstr(m2, "nesting deeper") || strstr(m2, "aliases"));
}

static void test_too_big(void) {
  gsize n = (16u << 20) + 100;
  char *big = g_malloc(n);
  memset(big, '#', n);
  big[n - 1] = '\n';
  g_autofree char *m = load_errors(big, (gssize)n);
  g_free(big);
  assert_contains(m, "over the 16 MiB limit");
}

static void test_dispatch(void) {
  g_autofree char *src = g_build_filename(PH_FIXTURES, "hello.yaml", NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(src, &text, NULL, NULL));
  g_autofree char *yml = write_tmp("hello.yml", text, -1);
  GError *err = NULL;
  ph_dag *d = ph_dag_load(yml, NULL, &err);
  g_assert_no_error(err);
  g_assert_cmpstr(ph_dag_get_id(d), ==, "hello");
  ph_dag_free(d);
  g_autofree char *txt = write_tmp("hello.txt", text, -1);
  g_assert_null(ph_dag_load(txt, NULL, &err));
  g_autofree char *want = g_strdup_printf(
      "%s: unknown DAG file type (expected .lua, .yaml or .yml)", txt);
  g_assert_cmpstr(err->message, ==, want);
  g_error_free(err);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp("phyaml-XXXXXX", NULL);
  g_test_add_func("/yaml/minimal", test_minimal);
  g_test_add_func("/yaml/scalars", test_scalars);
  g_test_add_func("/yaml/upstream", test_upstream);
  g_test_add_func("/yaml/duplicates", test_duplicates);
  g_test_add_func("/yaml/structure_errors", test_structure_errors);
  g_test_add_func("/yaml/syntax_error", test_syntax_error);
  g_test_add_func("/yaml/empty", test_empty);
  g_test_add_func("/yaml/missing_file", test_missing_file);
  g_test_add_func("/yaml/deep_nesting", test_deep_nesting);
  g_test_add_func("/yaml/invalid_utf8", test_invalid_utf8);
  g_test_add_func("/yaml/aliases", test_aliases);
  g_test_add_func("/yaml/too_big", test_too_big);
  g_test_add_func("/yaml/dispatch", test_dispatch);
  int rc = g_test_run();
  const char *names[] = {"t.yaml", "e.yaml", "empty.yaml", "hello.yml",
                         "hello.txt"};
  for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
    g_autofree char *p = g_build_filename(tmpdir, names[i], NULL);
    g_unlink(p);
  }
  g_rmdir(tmpdir);
  g_free(tmpdir);
  return rc;
}
