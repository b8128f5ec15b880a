/* Validation: every bad input gets its error with file, line and hint.
 * DAG models are built by hand, so this tests ph_plan alone. */
#include <glib.h>
#include <string.h>

#include "ph_plan.h"

static ph_registry *reg;

static ph_dag_task *task(ph_dag *d, const char *id, const char *op, int line) {
  ph_dag_task *t = ph_dag_add_task(d, id, line);
  ph_dag_task_set_op(t, op, line);
  return t;
}

static void arg_str(ph_dag_task *t, const char *k, const char *v, int line) {
  JsonNode *n = json_node_new(JSON_NODE_VALUE);
  json_node_set_string(n, v);
  ph_dag_task_set_arg(t, k, n, line);
}

static void arg_int(ph_dag_task *t, const char *k, gint64 v, int line) {
  JsonNode *n = json_node_new(JSON_NODE_VALUE);
  json_node_set_int(n, v);
  ph_dag_task_set_arg(t, k, n, line);
}

/* Builds the plan; returns all errors joined by newlines ("" if none). */
static char *errors_of(ph_dag *d, ph_plan **out) {
  GPtrArray *errs = g_ptr_array_new_with_free_func(g_free);
  ph_plan *p = ph_plan_build(d, reg, errs);
  g_ptr_array_add(errs, NULL);
  char *all = g_strjoinv("\n", (char **)errs->pdata);
  g_ptr_array_unref(errs);
  if (out)
    *out = p;
  else
    ph_plan_free(p);
  return all;
}

static void assert_has(const char *all, const char *want) {
  if (!strstr(all, want))
    g_error("expected '%s' in errors:\n%s", want, all);
}

static void test_ok(void) {
  ph_dag *d = ph_dag_new("ok.yaml", PH_DAG_YAML);
  ph_dag_set_id(d, "ok", 1);
  arg_str(task(d, "a", "bash", 3), "command", "true", 3);
  task(d, "b", "empty", 4);
  task(d, "c", "empty", 5);
  ph_dag_add_edge(d, "a", "b", 4);
  ph_dag_add_edge(d, "a", "c", 5);
  ph_dag_add_edge(d, "a", "c", 6); /* duplicate edge: ignored */
  ph_plan *p;
  g_autofree char *e = errors_of(d, &p);
  g_assert_cmpstr(e, ==, "");
  g_assert_nonnull(p);
  g_assert_cmpuint(ph_plan_n_tasks(p), ==, 3);
  const ph_task_spec *a = ph_plan_get_task(p, ph_plan_lookup(p, "a"));
  g_assert_cmpuint(a->n_down, ==, 2);
  /* default weight_rule downstream: own 1 + 2 downstreams */
  g_assert_cmpint(a->priority_weight, ==, 3);
  /* declared default applied */
  g_assert_nonnull(json_object_get_member(a->params, "skip_on_exit_code"));
  g_assert_cmpint(a->retry_delay, ==, 300);
  ph_plan_free(p);
  ph_dag_free(d);
}

static void test_errors(void) {
  ph_dag *d = ph_dag_new("bad.yaml", PH_DAG_YAML);
  ph_dag_set_id(d, "bad", 1);
  task(d, "a", "bsh", 3);                               /* unknown op */
  arg_str(task(d, "b", "bash", 4), "comand", "x", 5);   /* unknown param */
  arg_int(task(d, "c", "bash", 6), "command", 5, 7);    /* wrong type */
  arg_str(task(d, "e", "bash", 9), "command", "x", 9);
  arg_str(ph_dag_lookup(d, "e"), "trigger_rule", "all_sucess", 10);
  arg_str(ph_dag_lookup(d, "e"), "retry_delay", "soon", 11);
  arg_str(ph_dag_lookup(d, "e"), "poke_interval", "5s", 12);
  g_assert_null(ph_dag_add_task(d, "e", 13));           /* duplicate */
  ph_dag_add_edge(d, "e", "zz", 14);                    /* unknown id */
  g_autofree char *e = errors_of(d, NULL);
  assert_has(e, "bad.yaml:3: task 'a': unknown operator 'bsh' (did you mean 'bash'?)");
  assert_has(e, "bad.yaml:5: task 'b': unknown param 'comand' for operator 'bash' (did you mean 'command'?)");
  assert_has(e, "bad.yaml:4: task 'b': missing required param 'command'");
  assert_has(e, "bad.yaml:7: task 'c': param 'command' of operator 'bash' must be of type string, got integer");
  assert_has(e, "bad.yaml:10: task 'e': unknown trigger_rule 'all_sucess' (did you mean 'all_success'?)");
  assert_has(e, "bad.yaml:11: task 'e': 'retry_delay' must be a duration");
  assert_has(e, "bad.yaml:12: task 'e': 'poke_interval' applies only to sensors");
  assert_has(e, "bad.yaml:13: duplicate task id 'e' (first defined at line 9)");
  assert_has(e, "bad.yaml:14: unknown downstream task 'zz' in dependency e >> zz");
  ph_dag_free(d);
}

static void test_cycle(void) {
  ph_dag *d = ph_dag_new("cyc.lua", PH_DAG_LUA);
  ph_dag_set_id(d, "cyc", 1);
  task(d, "start", "empty", 2);
  task(d, "a", "empty", 3);
  task(d, "b", "empty", 4);
  task(d, "c", "empty", 5);
  ph_dag_add_edge(d, "start", "a", 6);
  ph_dag_add_edge(d, "a", "b", 7);
  ph_dag_add_edge(d, "b", "c", 8);
  ph_dag_add_edge(d, "c", "a", 9);
  g_autofree char *e = errors_of(d, NULL);
  assert_has(e, "cycle:");
  /* the printed cycle goes around once and names each edge of it */
  assert_has(e, "a >> b");
  assert_has(e, "b >> c");
  assert_has(e, "c >> a");
  g_assert_null(strstr(e, "start >>"));
  ph_dag_free(d);
}

static void test_self_cycle(void) {
  ph_dag *d = ph_dag_new("self.yaml", PH_DAG_YAML);
  ph_dag_set_id(d, "self", 1);
  task(d, "a", "empty", 2);
  ph_dag_add_edge(d, "a", "a", 3);
  g_autofree char *e = errors_of(d, NULL);
  assert_has(e, "cycle: a >> a");
  ph_dag_free(d);
}

static void test_default_args(void) {
  ph_dag *d = ph_dag_new("da.yaml", PH_DAG_YAML);
  ph_dag_set_id(d, "da", 1);
  JsonObject *da = ph_dag_get_default_args(d);
  json_object_set_int_member(da, "retries", 3);
  json_object_set_string_member(da, "cwd", "/tmp"); /* a bash param */
  arg_str(task(d, "a", "bash", 2), "command", "true", 2);
  task(d, "b", "empty", 3); /* cwd is not an empty param: ignored */
  arg_int(ph_dag_lookup(d, "b"), "retries", 1, 3);
  ph_plan *p;
  g_autofree char *e = errors_of(d, &p);
  g_assert_cmpstr(e, ==, "");
  const ph_task_spec *a = ph_plan_get_task(p, 0), *b = ph_plan_get_task(p, 1);
  g_assert_cmpint(a->retries, ==, 3);
  g_assert_cmpint(b->retries, ==, 1);
  g_assert_cmpstr(json_object_get_string_member(a->params, "cwd"), ==, "/tmp");
  g_assert_false(json_object_has_member(b->params, "cwd"));
  ph_plan_free(p);
  ph_dag_free(d);
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  reg = ph_registry_new();
  ph_registry_scan_dir(reg, PH_BUILTIN_PLUGIN_DIR);
  g_test_add_func("/plan/ok", test_ok);
  g_test_add_func("/plan/errors", test_errors);
  g_test_add_func("/plan/cycle", test_cycle);
  g_test_add_func("/plan/self_cycle", test_self_cycle);
  g_test_add_func("/plan/default_args", test_default_args);
  int rc = g_test_run();
  ph_registry_free(reg);
  return rc;
}
