/* ABI 1.3 command operators: the registry's checks of a declared command,
 * when the host may start it without a worker, the argv it builds, and
 * which shell lines it runs without the shell. */
#include <glib.h>
#include <string.h>

#include "ph_direct.h"
#include "ph_registry.h"
#include "ph_util.h"

static const ph_param p_cmd = {PH_PARAM_INIT, .name = "command",
                               .type = "string",
                               .flags = PH_PARAM_TEMPLATED};
static const ph_param p_cwd = {PH_PARAM_INIT, .name = "cwd", .type = "string"};
static const ph_param p_skip = {PH_PARAM_INIT, .name = "skip",
                                .type = "integer", .default_json = "99"};
static const ph_param p_flag = {PH_PARAM_INIT, .name = "flag",
                                .type = "boolean", .default_json = "false"};
static const ph_param p_env = {PH_PARAM_INIT, .name = "env", .type = "object"};
static const ph_param p_pw = {PH_PARAM_INIT, .name = "password",
                              .type = "string", .flags = PH_PARAM_SECRET};
static const ph_param *const params[] = {&p_cmd, &p_cwd, &p_skip, &p_flag,
                                         &p_env, &p_pw, NULL};

static ph_status noop_init(const ph_host *h, ph_task *t, void **o) {
  *o = NULL;
  return PH_OK;
}
static ph_status noop_exec(void *s, ph_task *t) { return PH_OK; }
static void noop_destroy(void *s) {}

static const char *const sh_argv[] = {"bash", "-c", "{command}", NULL};
static const char *const pw_argv[] = {"tool", "--password", "{password}",
                                      "{command}", NULL};

static ph_command good_cmd(void) {
  return (ph_command){PH_COMMAND_INIT,
                      .flags = PH_COMMAND_SHELL_LINE,
                      .what = "bash",
                      .argv = sh_argv,
                      .cwd_param = "cwd",
                      .skip_code_param = "skip"};
}

static ph_operator make_op(const ph_command *c, int32_t kind) {
  return (ph_operator){PH_OPERATOR_INIT,
                       .type = "runner",
                       .kind = kind,
                       .params = params,
                       .init = noop_init,
                       .execute = noop_exec,
                       .destroy = noop_destroy,
                       .command = c};
}

/* NULL when the descriptor passes, else the error message (freed by the
 * caller). */
static char *check(const ph_command *c, int32_t kind) {
  ph_operator op = make_op(c, kind);
  const ph_operator *ops[] = {&op, NULL};
  ph_plugin p = {PH_PLUGIN_INIT, .name = "t", .version = "1", .license = "MIT",
                 .description = "test",
                 .operators = ops};
  GError *err = NULL;
  if (ph_registry_check_descriptor(&p, &err))
    return NULL;
  char *m = g_strdup(err->message);
  g_error_free(err);
  return m;
}

static void expect_refused(const ph_command *c, int32_t kind, const char *sub) {
  g_autofree char *m = check(c, kind);
  g_assert_nonnull(m);
  g_assert_nonnull(strstr(m, "command: operator 'runner'"));
  if (!strstr(m, sub))
    g_error("'%s' does not say '%s'", m, sub);
}

static void test_checks(void) {
  ph_command c = good_cmd();
  g_autofree char *ok = check(&c, PH_KIND_TASK);
  if (ok)
    g_error("a good command was refused: %s", ok);
  expect_refused(&c, PH_KIND_BRANCH, "only a PH_KIND_TASK");
  c.struct_size = 8;
  expect_refused(&c, PH_KIND_TASK, "struct_size 8");
  c = good_cmd();
  c.flags = 0x80;
  expect_refused(&c, PH_KIND_TASK, "unknown flags 0x80");
  c = good_cmd();
  c.what = NULL;
  expect_refused(&c, PH_KIND_TASK, "'what'");
  c = good_cmd();
  static const char *const empty[] = {NULL};
  c.argv = empty;
  expect_refused(&c, PH_KIND_TASK, "argv is NULL or empty");
  c = good_cmd();
  static const char *const unknown[] = {"sh", "{nope}", NULL};
  c.argv = unknown;
  expect_refused(&c, PH_KIND_TASK, "'{nope}' names no declared string param");
  static const char *const not_string[] = {"sh", "{skip}", NULL};
  c.argv = not_string;
  expect_refused(&c, PH_KIND_TASK, "'{skip}'");
  c = good_cmd();
  c.cwd_param = "skip";
  expect_refused(&c, PH_KIND_TASK, "'skip' is not a declared param");
  c = good_cmd();
  c.skip_code_param = "cwd";
  expect_refused(&c, PH_KIND_TASK, "'cwd' is not a declared param");
}

static JsonObject *obj(const char *json) {
  JsonNode *n = ph_util_json_parse(json, NULL);
  g_assert_nonnull(n);
  JsonObject *o = json_object_ref(json_node_get_object(n));
  json_node_unref(n);
  return o;
}

static gboolean applies(const ph_operator *op, const char *json) {
  JsonObject *o = obj(json);
  gboolean r = ph_direct_applies(op, o);
  json_object_unref(o);
  return r;
}

static void test_applies(void) {
  ph_command c = good_cmd();
  ph_operator op = make_op(&c, PH_KIND_TASK);
  g_assert_true(applies(&op, "{\"command\": \"true\", \"skip\": 99, "
                             "\"flag\": false}"));
  g_assert_true(applies(&op, "{\"command\": \"x\", \"cwd\": \"/tmp\"}"));
  /* a param the command does not name, set to something else than its
   * default, needs the operator's own execute */
  g_assert_false(applies(&op, "{\"command\": \"x\", \"flag\": true}"));
  g_assert_false(applies(&op, "{\"command\": \"x\", \"env\": {\"A\": \"1\"}}"));
  g_assert_false(applies(&op, "{\"command\": \"x\", \"undeclared\": 1}"));
  /* a secret never goes through the host's argv and log header */
  ph_command pc = good_cmd();
  pc.argv = pw_argv;
  ph_operator pop = make_op(&pc, PH_KIND_TASK);
  g_assert_false(applies(&pop, "{\"command\": \"x\", \"password\": \"pw\"}"));
  /* an operator without a command, or built before ABI 1.3 */
  ph_operator plain = make_op(NULL, PH_KIND_TASK);
  g_assert_false(applies(&plain, "{\"command\": \"x\"}"));
  ph_operator old = make_op(&c, PH_KIND_TASK);
  old.struct_size = offsetof(ph_operator, command);
  g_assert_false(applies(&old, "{\"command\": \"x\"}"));
}

static void test_argv(void) {
  ph_command c = good_cmd();
  ph_operator op = make_op(&c, PH_KIND_TASK);
  JsonObject *o = obj("{\"command\": \"python3 train.py --epochs=3\", "
                      "\"cwd\": \"/srv\", \"skip\": 42}");
  char **plain = NULL, *cwd = NULL;
  int skip = 0;
  char **argv = ph_direct_argv(&op, o, &plain, &cwd, &skip);
  g_assert_cmpuint(g_strv_length(argv), ==, 3);
  g_assert_cmpstr(argv[0], ==, "bash");
  g_assert_cmpstr(argv[1], ==, "-c");
  g_assert_cmpstr(argv[2], ==, "python3 train.py --epochs=3");
  g_assert_nonnull(plain);
  g_assert_cmpuint(g_strv_length(plain), ==, 3);
  g_assert_cmpstr(plain[0], ==, "python3");
  g_assert_cmpstr(plain[2], ==, "--epochs=3");
  g_assert_cmpstr(cwd, ==, "/srv");
  g_assert_cmpint(skip, ==, 42);
  g_strfreev(argv);
  g_strfreev(plain);
  g_free(cwd);
  json_object_unref(o);
  /* no skip param value, empty cwd, a line that needs the shell */
  o = obj("{\"command\": \"echo $HOME | wc\", \"cwd\": \"\"}");
  argv = ph_direct_argv(&op, o, &plain, &cwd, &skip);
  g_assert_cmpstr(argv[2], ==, "echo $HOME | wc");
  g_assert_null(plain);
  g_assert_null(cwd);
  g_assert_cmpint(skip, ==, -1);
  g_strfreev(argv);
  json_object_unref(o);
  /* without PH_COMMAND_SHELL_LINE the line is never split */
  c.flags = 0;
  o = obj("{\"command\": \"true\"}");
  argv = ph_direct_argv(&op, o, &plain, &cwd, &skip);
  g_assert_null(plain);
  g_strfreev(argv);
  json_object_unref(o);
}

static void test_split_plain(void) {
  struct {
    const char *line;
    const char *first; /* NULL: needs the shell */
    guint n;
  } cases[] = {
      {"true", "true", 1},
      {"  make  -j2 all ", "make", 3},
      {"python3 /a/b.py x=1,y=2 user@host 50% +x", "python3", 6},
      {"echo hi", NULL, 0},            /* a builtin */
      {"cd /tmp", NULL, 0},            /* changes the shell's own state */
      {"exit 3", NULL, 0},             /* a builtin with a meaning */
      {"A=1 env", NULL, 0},            /* an assignment first */
      {"-x", NULL, 0},                 /* an option first */
      {"ls *.csv", NULL, 0},           /* a glob */
      {"a; b", NULL, 0},               /* a list */
      {"a | b", NULL, 0},              /* a pipe */
      {"cat $FILE", NULL, 0},          /* an expansion */
      {"cat 'a b'", NULL, 0},          /* quoting */
      {"sleep 1 &", NULL, 0},          /* background */
      {"x > out", NULL, 0},            /* a redirection */
      {"~/bin/x", NULL, 0},            /* tilde expansion */
      {"", NULL, 0},
      {"   ", NULL, 0},
      {"if", NULL, 0},                 /* a keyword */
      {"caf\xc3\xa9", NULL, 0},        /* non-ASCII: let the shell decide */
  };
  for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
    char **w = ph_direct_split_plain(cases[i].line);
    if (!cases[i].first) {
      if (w)
        g_error("'%s' should need the shell", cases[i].line);
      continue;
    }
    g_assert_nonnull(w);
    g_assert_cmpstr(w[0], ==, cases[i].first);
    g_assert_cmpuint(g_strv_length(w), ==, cases[i].n);
    g_strfreev(w);
  }
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/direct/registry_checks", test_checks);
  g_test_add_func("/direct/applies", test_applies);
  g_test_add_func("/direct/argv", test_argv);
  g_test_add_func("/direct/split_plain", test_split_plain);
  return g_test_run();
}
