/* The Lua DAG loader and DSL: the same DAG as in YAML gives the same
 * model; dependency operators and their lines; functions as callables;
 * errors with file and line; limits on endless loops and memory. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "ph_dag.h"
#include "ph_lua.h"
#include "ph_yaml.h"

static char *tmpdir;

static char *write_tmp(const char *name, const char *text) {
  char *p = g_build_filename(tmpdir, name, NULL);
  g_assert_true(g_file_set_contents(p, text, -1, NULL));
  return p;
}

static char *all_errors(ph_dag *d) {
  GString *s = g_string_new(NULL);
  for (guint i = 0; d && i < ph_dag_n_errors(d); i++)
    g_string_append_printf(s, "%s\n", ph_dag_get_error(d, i));
  return g_string_free(s, FALSE);
}

static void assert_contains(const char *hay, const char *needle) {
  if (!strstr(hay, needle))
    g_error("expected \"%s\" in: %s", needle, hay);
}

static void canon_node(GString *s, JsonNode *n);

/* Objects with members sorted at every level: the loaders may add them in
 * different orders. */
static void canon_object(GString *s, JsonObject *o) {
  GList *keys = g_list_sort(json_object_get_members(o), (GCompareFunc)strcmp);
  g_string_append_c(s, '{');
  for (GList *l = keys; l; l = l->next) {
    g_string_append_printf(s, "%s%s=", l == keys ? "" : ",", (char *)l->data);
    canon_node(s, json_object_get_member(o, l->data));
  }
  g_list_free(keys);
  g_string_append_c(s, '}');
}

static void canon_node(GString *s, JsonNode *n) {
  if (JSON_NODE_HOLDS_OBJECT(n)) {
    canon_object(s, json_node_get_object(n));
  } else if (JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    g_string_append_c(s, '[');
    for (guint i = 0; i < json_array_get_length(a); i++) {
      if (i)
        g_string_append_c(s, ',');
      canon_node(s, json_array_get_element(a, i));
    }
    g_string_append_c(s, ']');
  } else {
    char *v = json_to_string(n, FALSE);
    g_string_append(s, v);
    g_free(v);
  }
}

static char *obj_json(JsonObject *o) {
  GString *s = g_string_new(NULL);
  canon_object(s, o);
  return g_string_free(s, FALSE);
}

static gint cmp_strp(gconstpointer a, gconstpointer b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A canonical text of the whole model, without lines. */
static char *canon(ph_dag *d) {
  GString *s = g_string_new(NULL);
  g_autofree char *args = obj_json(ph_dag_get_args(d));
  g_autofree char *dargs = obj_json(ph_dag_get_default_args(d));
  g_string_append_printf(s, "dag %s args=%s default_args=%s\n",
                         ph_dag_get_id(d), args, dargs);
  for (guint i = 0; i < ph_dag_n_tasks(d); i++) {
    ph_dag_task *t = ph_dag_get_task(d, i);
    g_autofree char *ta = obj_json(ph_dag_task_get_args(t));
    g_string_append_printf(s, "task %s op=%s args=%s\n",
                           ph_dag_task_get_id(t), ph_dag_task_get_op(t), ta);
  }
  GPtrArray *edges = g_ptr_array_new_with_free_func(g_free);
  for (guint i = 0; i < ph_dag_n_edges(d); i++) {
    const char *u, *v;
    ph_dag_get_edge(d, i, &u, &v, NULL);
    g_ptr_array_add(edges, g_strdup_printf("edge %s>>%s\n", u, v));
  }
  g_ptr_array_sort(edges, cmp_strp);
  for (guint i = 0; i < edges->len; i++)
    g_string_append(s, edges->pdata[i]);
  g_ptr_array_unref(edges);
  return g_string_free(s, FALSE);
}

/* "up>>down@line" for every edge, in order. */
static char *edge_list(ph_dag *d) {
  GString *s = g_string_new(NULL);
  for (guint i = 0; i < ph_dag_n_edges(d); i++) {
    const char *u, *v;
    int line;
    ph_dag_get_edge(d, i, &u, &v, &line);
    g_string_append_printf(s, "%s%s>>%s@%d", i ? " " : "", u, v, line);
  }
  return g_string_free(s, FALSE);
}

static ph_dag *load_ok(const char *file) {
  GError *err = NULL;
  ph_dag *d = ph_lua_load(file, PH_LUA_DIR, &err);
  g_assert_no_error(err);
  g_assert_nonnull(d);
  g_autofree char *errs = all_errors(d);
  g_assert_cmpstr(errs, ==, "");
  return d;
}

/* Loads text as e.lua; returns the GError message or the model's errors. */
static char *load_errors(const char *text) {
  g_autofree char *p = write_tmp("e.lua", text);
  GError *err = NULL;
  ph_dag *d = ph_lua_load(p, PH_LUA_DIR, &err);
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

/* The GError message (the file must fail to load). */
static char *load_fails(const char *text) {
  g_autofree char *p = write_tmp("e.lua", text);
  GError *err = NULL;
  ph_dag *d = ph_lua_load(p, PH_LUA_DIR, &err);
  g_assert_null(d);
  g_assert_nonnull(err);
  /* "FILE:" once, at the start */
  g_assert_true(g_str_has_prefix(err->message, p));
  g_assert_null(strstr(err->message + strlen(p), "e.lua"));
  char *msg = g_strdup(err->message + strlen(p));
  g_error_free(err);
  return msg;
}

static void test_same_as_yaml(void) {
  g_autofree char *y = g_build_filename(PH_FIXTURES, "hello.yaml", NULL);
  g_autofree char *l = g_build_filename(PH_FIXTURES, "hello.lua", NULL);
  GError *err = NULL;
  ph_dag *dy = ph_yaml_load(y, &err);
  g_assert_no_error(err);
  ph_dag *dl = load_ok(l);
  g_assert_cmpint(ph_dag_get_kind(dl), ==, PH_DAG_LUA);
  g_autofree char *cy = canon(dy), *cl = canon(dl);
  g_assert_cmpstr(cl, ==, cy);
  g_assert_cmpuint(ph_dag_n_tasks(dl), ==, 4);
  g_assert_cmpuint(ph_dag_n_edges(dl), ==, 3);
  /* Lua lines: the DAG, each task, each >> */
  g_assert_cmpint(ph_dag_get_line(dl), ==, 2);
  g_assert_cmpint(ph_dag_get_arg_line(dl, "default_args.retries"), ==, 2);
  g_assert_cmpint(ph_dag_task_get_line(ph_dag_lookup(dl, "extract")), ==, 3);
  g_assert_cmpint(ph_dag_task_get_line(ph_dag_lookup(dl, "a")), ==, 5);
  g_assert_cmpint(ph_dag_task_get_line(ph_dag_lookup(dl, "pick")), ==, 7);
  g_autofree char *el = edge_list(dl);
  g_assert_cmpstr(el, ==, "extract>>report@8 extract>>a@9 extract>>pick@9");
  ph_dag_free(dy);
  ph_dag_free(dl);
}

static void test_dependencies(void) {
  g_autofree char *f = g_build_filename(PH_FIXTURES, "deps.lua", NULL);
  ph_dag *d = load_ok(f);
  g_autofree char *el = edge_list(d);
  g_assert_cmpstr(el, ==,
                  /* upstream = { "a", b } and upstream = "c" */
                  "a>>f@8 b>>f@8 c>>g@9 "
                  /* a >> b >> c */
                  "a>>b@10 b>>c@10 "
                  /* a >> { e, f } >> g */
                  "a>>e@11 a>>f@11 e>>g@11 f>>g@11 "
                  /* { b, c } >> e */
                  "b>>e@12 c>>e@12 "
                  /* g << e */
                  "e>>g@13");
  /* a module next to the DAG file is found */
  g_assert_cmpstr(ph_dag_task_get_op(ph_dag_lookup(d, "g")), ==, "empty");
  ph_dag_free(d);
}

static void test_values(void) {
  g_autofree char *f = g_build_filename(PH_FIXTURES, "deps.lua", NULL);
  ph_dag *d = load_ok(f);
  ph_dag_task *w = ph_dag_lookup(d, "w");
  g_assert_nonnull(w);
  g_autofree char *a = obj_json(ph_dag_task_get_args(w));
  g_assert_cmpstr(a, ==,
                  "{check={$lua=\"w.check\"},empty={},"
                  "fn={$lua=\"w.fn\"},n=3,x=2.0}");
  JsonObject *o = ph_dag_task_get_args(w);
  g_assert_true(json_node_get_value_type(json_object_get_member(o, "n")) ==
                G_TYPE_INT64);
  g_assert_true(json_node_get_value_type(json_object_get_member(o, "x")) ==
                G_TYPE_DOUBLE);
  g_assert_cmpint(ph_dag_task_get_arg_line(w, "fn"), ==, 14);
  ph_dag_free(d);
}

static void test_arg_errors(void) {
  g_autofree char *m1 = load_errors(
      "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
      "d:task{ id = 'x', op = 'bash', env = { f = print } }\n");
  assert_contains(m1, "e.lua:3: task 'x': argument 'env': a function cannot "
                      "be stored here");
  g_autofree char *m2 = load_errors(
      "local ph = require 'pipehost'\n"
      "local d = ph.dag{ id = 'a', on_failure = function() end }\n");
  assert_contains(m2, "e.lua:2: DAG argument 'on_failure': a function");
  g_autofree char *m3 = load_errors(
      "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
      "d:task{ id = 'x', op = 'bash', out = io.stdout }\n");
  assert_contains(m3, "e.lua:3: task 'x': argument 'out': a userdata");
  g_autofree char *m4 = load_errors(
      "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
      "d:task{ id = 'x', command = 'true' }\n");
  assert_contains(m4, "e.lua:3: task 'x' has no 'op'");
  g_autofree char *m5 = load_errors(
      "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
      "d:task{ id = 'x', op = 'bash' }\nd:task{ id = 'x', op = 'bash' }\n");
  assert_contains(m5, "e.lua:4: duplicate task id 'x' (first defined at line "
                      "3)");
}

static void test_syntax_error(void) {
  g_autofree char *m = load_fails(
      "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'x',\n"
      "  schedule = '@daily'\nd:task{}\n");
  g_assert_cmpstr(m, ==, ":4: '}' expected (to close '{' at line 2) near 'd'");
}

static void test_runtime_errors(void) {
  g_autofree char *m1 = load_fails("local x = 1\nerror('boom')\n");
  g_assert_cmpstr(m1, ==, ":2: boom");
  g_autofree char *m2 = load_fails("local x = 1\n\nerror('no position', 0)\n");
  g_assert_cmpstr(m2, ==, ":3: no position");
  g_autofree char *m3 = load_fails("error({})\n");
  g_assert_cmpstr(m3, ==,
                  ":1: an error was raised with a table value instead of a "
                  "message");
  g_autofree char *m4 = load_fails(
      "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
      "d:task{ op = 'bash' }\n");
  g_assert_cmpstr(m4, ==,
                  ":3: d:task{...} needs an id: d:task{ id = \"NAME\", op = "
                  "... }");
  g_autofree char *m5 = load_fails(
      "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
      "local x = d:task{ id = 'x', op = 'bash' }\nx >> y\n");
  assert_contains(m5, ":4: cannot make a dependency on nil");
  g_autofree char *m6 = load_fails(
      "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
      "d.task{ id = 'x', op = 'bash' }\n");
  assert_contains(m6, ":3: call d:task{...} with a colon");
  g_autofree char *m7 = load_fails("local ph = require 'pipehost'\nph.dag{}\n");
  assert_contains(m7, ":2: pipehost.dag{...} needs an id");
}

static void test_dag_count(void) {
  g_autofree char *m1 = load_errors("local x = 1\n");
  g_assert_true(g_str_has_suffix(m1, "e.lua: no DAG defined (call "
                                     "pipehost.dag{...})\n"));
  g_autofree char *m2 = load_errors("require 'pipehost'\nreturn 1\n");
  assert_contains(m2, "e.lua: no DAG defined");
  g_autofree char *m3 = load_errors("local ph = require 'pipehost'\n"
                                    "ph.dag{ id = 'a' }\n\n"
                                    "ph.dag{ id = 'b' }\n");
  assert_contains(m3, "e.lua:4: a second DAG is defined here");
  /* tampering with the DSL's records is an error, not a crash */
  g_autofree char *m4 = load_errors("local ph = require 'pipehost'\n"
                                    "ph.dag{ id = 'a' }\nph._dags[1] = 5\n");
  g_assert_cmpstr(m4, !=, "");
  g_autofree char *m5 = load_errors(
      "local ph = require 'pipehost'\nlocal d = ph.dag{ id = 'a' }\n"
      "d._tasks = { 1, { id = 3 }, setmetatable({}, { __index = error }) }\n"
      "d._edges = { 'x', { 1, 2 } }\n");
  assert_contains(m5, "modified");
}

static void test_endless_loop(void) {
  ph_lua_set_limits(0, 0.3);
  const char *loops[] = {
      "local ph = require 'pipehost'\nwhile true do end\n",
      /* a loop that catches the timeout error */
      "while true do pcall(function() while true do end end) end\n",
      "while true do xpcall(function() while true do end end, tostring) end\n",
      "while true do\n  coroutine.resume(coroutine.create(function()\n"
      "    while true do end end))\nend\n",
  };
  for (gsize i = 0; i < G_N_ELEMENTS(loops); i++) {
    gint64 t0 = g_get_monotonic_time();
    g_autofree char *m = load_fails(loops[i]);
    g_assert_cmpint(g_get_monotonic_time() - t0, <, 5 * G_USEC_PER_SEC);
    g_assert_cmpstr(m, ==,
                    ": DAG file did not finish loading within 0.3 s (an "
                    "endless loop?)");
  }
  ph_lua_set_limits(0, 0);
}

static void test_memory_bomb(void) {
  ph_lua_set_limits(16u << 20, 5);
  g_autofree char *m1 = load_fails(
      "local t = {}\nfor i = 1, 1e9 do t[i] = string.rep('x', 1000) .. i end\n");
  g_assert_cmpstr(m1, ==,
                  ": DAG file exceeded the memory limit of 16 MiB while "
                  "loading");
  g_autofree char *m2 = load_fails("local s = string.rep('x', 1 << 26)\n");
  g_assert_cmpstr(m2, ==,
                  ": DAG file exceeded the memory limit of 16 MiB while "
                  "loading");
  ph_lua_set_limits(0, 0);
  /* the defaults are back: a normal file loads */
  g_autofree char *f = g_build_filename(PH_FIXTURES, "hello.lua", NULL);
  ph_dag_free(load_ok(f));
}

static void test_dispatch(void) {
  g_autofree char *f = g_build_filename(PH_FIXTURES, "hello.lua", NULL);
  GError *err = NULL;
  ph_dag *d = ph_dag_load(f, PH_LUA_DIR, &err);
  g_assert_no_error(err);
  g_assert_cmpint(ph_dag_get_kind(d), ==, PH_DAG_LUA);
  ph_dag_free(d);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp("phlua-XXXXXX", NULL);
  g_test_add_func("/lua/same_as_yaml", test_same_as_yaml);
  g_test_add_func("/lua/dependencies", test_dependencies);
  g_test_add_func("/lua/values", test_values);
  g_test_add_func("/lua/arg_errors", test_arg_errors);
  g_test_add_func("/lua/syntax_error", test_syntax_error);
  g_test_add_func("/lua/runtime_errors", test_runtime_errors);
  g_test_add_func("/lua/dag_count", test_dag_count);
  g_test_add_func("/lua/endless_loop", test_endless_loop);
  g_test_add_func("/lua/memory_bomb", test_memory_bomb);
  g_test_add_func("/lua/dispatch", test_dispatch);
  int rc = g_test_run();
  g_autofree char *e = g_build_filename(tmpdir, "e.lua", NULL);
  g_unlink(e);
  g_rmdir(tmpdir);
  g_free(tmpdir);
  return rc;
}
