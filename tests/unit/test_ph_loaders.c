/* The YAML and Lua loaders: the same DAG in both formats gives the same
 * model; syntax and structure errors carry file and line; hostile input
 * (deep nesting, invalid UTF-8, endless loops, memory bombs) is refused
 * cleanly. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>

#include "ph_dag.h"
#include "ph_lua.h"
#include "ph_yaml.h"

static char *tmpdir;

static char *fixture(const char *name) {
  return g_build_filename(PH_FIXTURES, name, NULL);
}

static char *write_tmp(const char *name, const char *text) {
  char *p = g_build_filename(tmpdir, name, NULL);
  g_assert_true(g_file_set_contents(p, text, -1, NULL));
  return p;
}

static char *all_errors(ph_dag *d) {
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < ph_dag_n_errors(d); i++)
    g_string_append_printf(s, "%s\n", ph_dag_get_error(d, i));
  return g_string_free(s, FALSE);
}

/* A canonical text of the model: tasks (id, op, args) and sorted edges. */
static char *canon(ph_dag *d) {
  GString *s = g_string_new(ph_dag_get_id(d));
  JsonNode *da = json_node_new(JSON_NODE_OBJECT);
  json_node_set_object(da, ph_dag_get_default_args(d));
  g_autofree char *das = json_to_string(da, FALSE);
  json_node_unref(da);
  g_string_append_printf(s, " default_args=%s\n", das);
  for (guint i = 0; i < ph_dag_n_tasks(d); i++) {
    ph_dag_task *t = ph_dag_get_task(d, i);
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(n, ph_dag_task_get_args(t));
    JsonGenerator *g = json_generator_new();
    json_generator_set_root(g, n);
    g_autofree char *args = json_generator_to_data(g, NULL);
    g_object_unref(g);
    json_node_unref(n);
    /* member order differs between loaders: compare sorted keys */
    JsonObject *o = ph_dag_task_get_args(t);
    GList *keys = g_list_sort(json_object_get_members(o), (GCompareFunc)strcmp);
    g_string_append_printf(s, "task %s op=%s", ph_dag_task_get_id(t),
                           ph_dag_task_get_op(t));
    for (GList *l = keys; l; l = l->next) {
      g_autofree char *v =
          json_to_string(json_object_get_member(o, l->data), FALSE);
      g_string_append_printf(s, " %s=%s", (char *)l->data, v);
    }
    g_list_free(keys);
    g_string_append_c(s, '\n');
    (void)args;
  }
  GPtrArray *edges = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < ph_dag_n_edges(d); i++) {
    const char *u, *v;
    ph_dag_get_edge(d, i, &u, &v, NULL);
    g_ptr_array_add(edges, g_strdup_printf("%s>>%s", u, v));
  }
  g_ptr_array_sort(edges, (GCompareFunc)g_strcmp0);
  for (guint i = 0; i < edges->len; i++)
    g_string_append_printf(s, "%s\n", *(char **)&edges->pdata[i]);
  g_ptr_array_unref(edges);
  return g_string_free(s, FALSE);
}

static gint cmp_str(gconstpointer a, gconstpointer b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *canon_sorted(ph_dag *d) {
  g_autofree char *c = canon(d);
  g_auto(GStrv) lines = g_strsplit(c, "\n", -1);
  GPtrArray *a = g_ptr_array_new();
  for (char **l = lines; *l; l++)
    g_ptr_array_add(a, *l);
  g_ptr_array_sort(a, cmp_str);
  g_ptr_array_add(a, NULL);
  char *r = g_strjoinv("\n", (char **)a->pdata);
  g_ptr_array_free(a, TRUE);
  return r;
}

static void test_same_model(void) {
  g_autofree char *y = fixture("same.yaml"), *l = fixture("same.lua");
  GError *err = NULL;
  ph_dag *dy = ph_yaml_load(y, &err);
  g_assert_no_error(err);
  ph_dag *dl = ph_lua_load(l, PH_LUA_DIR, &err);
  g_assert_no_error(err);
  g_autofree char *ey = all_errors(dy), *el = all_errors(dl);
  g_assert_cmpstr(ey, ==, "");
  g_assert_cmpstr(el, ==, "");
  g_autofree char *cy = canon_sorted(dy), *cl = canon_sorted(dl);
  g_assert_cmpstr(cy, ==, cl);
  g_assert_nonnull(strstr(cy, "extract>>t2"));
  g_assert_nonnull(strstr(cy, "t3>>join"));
  /* YAML lines */
  g_assert_cmpint(ph_dag_task_get_line(ph_dag_lookup(dy, "t2")), ==, 4);
  g_assert_cmpint(ph_dag_task_get_arg_line(ph_dag_lookup(dy, "t2"), "retry_delay"),
                  ==, 8);
  /* Lua lines: the task's line and the >> line */
  g_assert_cmpint(ph_dag_task_get_line(ph_dag_lookup(dl, "t3")), ==, 5);
  int line = 0;
  for (guint i = 0; i < ph_dag_n_edges(dl); i++) {
    const char *u, *v;
    int ln;
    ph_dag_get_edge(dl, i, &u, &v, &ln);
    if (!strcmp(u, "t2") && !strcmp(v, "join"))
      line = ln;
  }
  g_assert_cmpint(line, ==, 8);
  ph_dag_free(dy);
  ph_dag_free(dl);
}

static void test_yaml_scalars(void) {
  g_autofree char *p = write_tmp(
      "s.yaml", "dag: {id: s}\ntasks:\n  a: {op: x, i: 12, h: 0x1f, f: 1.5, "
                "b: true, B: False, n: null, t: ~, q: \"12\", s: abc, l: [1, "
                "two], o: {k: v}}\n");
  ph_dag *d = ph_yaml_load(p, NULL);
  JsonObject *a = ph_dag_task_get_args(ph_dag_lookup(d, "a"));
  g_assert_cmpint(json_object_get_int_member(a, "i"), ==, 12);
  g_assert_cmpint(json_object_get_int_member(a, "h"), ==, 31);
  g_assert_cmpfloat(json_object_get_double_member(a, "f"), ==, 1.5);
  g_assert_true(json_object_get_boolean_member(a, "b"));
  g_assert_false(json_object_get_boolean_member(a, "B"));
  g_assert_true(json_object_get_null_member(a, "n"));
  g_assert_true(json_object_get_null_member(a, "t"));
  g_assert_cmpstr(json_object_get_string_member(a, "q"), ==, "12");
  g_assert_cmpstr(json_object_get_string_member(a, "s"), ==, "abc");
  g_assert_cmpuint(json_array_get_length(json_object_get_array_member(a, "l")),
                   ==, 2);
  g_assert_cmpstr(json_object_get_string_member(
                      json_object_get_object_member(a, "o"), "k"),
                  ==, "v");
  ph_dag_free(d);
}

static void expect_yaml_error(const char *text, const char *want) {
  g_autofree char *p = write_tmp("e.yaml", text);
  GError *err = NULL;
  ph_dag *d = ph_yaml_load(p, &err);
  g_autofree char *msg = err ? g_strdup(err->message) : all_errors(d);
  if (!strstr(msg, want))
    g_error("expected '%s' in: %s", want, msg);
  g_assert_nonnull(strstr(msg, p));
  g_clear_error(&err);
  ph_dag_free(d);
}

static void test_yaml_errors(void) {
  expect_yaml_error("dag: {id: x}\ntasks:\n  a: {op: bash, command: [x\n",
                    "e.yaml:4:1:");
  expect_yaml_error("", "empty DAG file");
  expect_yaml_error("dag: {id: x}\ntask:\n  a: {op: bash}\n",
                    "e.yaml:2: unknown top-level key 'task'");
  expect_yaml_error("dag: {id: x}\ntasks:\n  a: {op: bash}\n  a: {op: bash}\n",
                    "e.yaml:4: duplicate task id 'a' (first defined at line 3)");
  expect_yaml_error("dag: {id: x}\ntasks:\n  a: {command: x}\n",
                    "task 'a' has no 'op'");
  expect_yaml_error("dag: {id: x}\ntasks:\n  a: {op: x, k: 1, k: 2}\n",
                    "duplicate key 'k'");
  expect_yaml_error("dag: {id: x}\ntasks:\n  a: {op: \"\xff\xfe\"}\n",
                    "invalid UTF-8");
  GString *deep = g_string_new("dag: {id: x}\ntasks:\n  a: {op: x, v: ");
  for (int i = 0; i < 100; i++)
    g_string_append_c(deep, '[');
  for (int i = 0; i < 100; i++)
    g_string_append_c(deep, ']');
  g_string_append(deep, "}\n");
  expect_yaml_error(deep->str, "nesting deeper than 64");
  g_string_free(deep, TRUE);
}

static void expect_lua_error(const char *text, const char *want) {
  g_autofree char *p = write_tmp("e.lua", text);
  GError *err = NULL;
  ph_dag *d = ph_lua_load(p, PH_LUA_DIR, &err);
  g_autofree char *msg = err ? g_strdup(err->message) : all_errors(d);
  if (!strstr(msg, want))
    g_error("expected '%s' in: %s", want, msg);
  g_clear_error(&err);
  ph_dag_free(d);
}

static void test_lua_errors(void) {
  expect_lua_error("local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'x' \n",
                   "e.lua:3:");
  expect_lua_error("local x = 1\n", "no DAG defined");
  expect_lua_error("local ph = require 'pipehost'\nph.dag{ id = 'a' }\n"
                   "ph.dag{ id = 'b' }\n",
                   "e.lua:3: a second DAG");
  expect_lua_error("local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
                   "d:task{ id = 'x', op = 'bash' }\nd:task{ id = 'x', op = 'bash' }\n",
                   "e.lua:4: duplicate task id 'x' (first defined at line 3)");
  expect_lua_error("local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
                   "local x = d:task{ id = 'x', op = 'bash' }\nx >> y\n",
                   "e.lua:4: cannot make a dependency on nil");
  expect_lua_error("local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
                   "d:task{ id = 'x', op = 'bash', t = { f = print } }\n",
                   "argument 't'");
  expect_lua_error("error('boom')\n", "e.lua:1: boom");
  /* the memory limit with a wall clock no slow machine reaches (under
   * ASan on a busy machine, filling 16 MiB took over 0.5 s), then the
   * wall clock alone */
  ph_lua_set_limits(16u << 20, 60);
  expect_lua_error("local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n",
                   "memory limit");
  ph_lua_set_limits(16u << 20, 0.5);
  expect_lua_error("local ph = require 'pipehost'\nwhile true do end\n",
                   "did not finish loading within");
  ph_lua_set_limits(0, 0);
}

static void test_lua_callables(void) {
  g_autofree char *p = write_tmp(
      "c.lua", "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'c' }\n"
               "local a = d:task{ id = 'a', op = 'lua', fn = function() return 1 end }\n"
               "local b = d:task{ id = 'b', op = 'lua', fn = 'return 2' }\n"
               "a >> b -- a comment with >> in it\n");
  GError *err = NULL;
  ph_dag *d = ph_lua_load(p, PH_LUA_DIR, &err);
  g_assert_no_error(err);
  g_autofree char *e = all_errors(d);
  g_assert_cmpstr(e, ==, "");
  JsonObject *a = ph_dag_task_get_args(ph_dag_lookup(d, "a"));
  g_assert_cmpstr(json_object_get_string_member(
                      json_object_get_object_member(a, "fn"), "$lua"),
                  ==, "a.fn");
  g_assert_cmpstr(json_object_get_string_member(
                      ph_dag_task_get_args(ph_dag_lookup(d, "b")), "fn"),
                  ==, "return 2");
  g_assert_cmpuint(ph_dag_n_edges(d), ==, 1);
  ph_dag_free(d);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp("phload-XXXXXX", NULL);
  g_test_add_func("/loaders/same_model", test_same_model);
  g_test_add_func("/loaders/yaml_scalars", test_yaml_scalars);
  g_test_add_func("/loaders/yaml_errors", test_yaml_errors);
  g_test_add_func("/loaders/lua_errors", test_lua_errors);
  g_test_add_func("/loaders/lua_callables", test_lua_callables);
  int rc = g_test_run();
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
  if (system(cmd) != 0)
    rc = rc ? rc : 0;
  return rc;
}
