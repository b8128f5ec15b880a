/* The executor: spawns a worker per job, relays JSON-line messages and
 * replies, reports exits and signals, and escalates a timeout from
 * SIGTERM to SIGKILL.  The worker here is a small shell script speaking
 * the same protocol, so the executor is tested on its own. */
#include <glib.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "ph_exec.h"
#include "ph_worker.h"
#include "ph_util.h"

static const char *script =
    "#!/bin/bash\n"
    "read -r spec <&3\n"
    "case \"$spec\" in\n"
    "  *'\"mode\":\"ok\"'*)\n"
    "    echo '{\"m\":\"xcom_pull\",\"task_id\":\"up\"}' >&3\n"
    "    read -r reply <&3\n"
    "    echo \"log line\"\n"
    "    echo "
    "\"{\\\"m\\\":\\\"result\\\",\\\"status\\\":0,\\\"reason\\\":$reply}\" >&3 "
    ";;\n"
    "  *'\"mode\":\"segv\"'*) kill -SEGV $$ ;;\n"
    "  *'\"mode\":\"exit3\"'*) exit 3 ;;\n"
    "  *'\"mode\":\"hang\"'*) trap '' TERM; while :; do sleep 1; done ;;\n"
    "esac\n";

typedef struct {
  int messages;
  int ended;
  ph_exec_end end;
  char *result_reason;
  ph_exec *ex;
} rec;

static void on_message(void *user, guint job, JsonObject *msg) {
  rec *r = user;
  r->messages++;
  g_assert_cmpstr(json_object_get_string_member(msg, "m"), ==, "xcom_pull");
  g_assert_cmpstr(json_object_get_string_member(msg, "task_id"), ==, "up");
  JsonNode *n = json_from_string("{\"value\":\"pulled\"}", NULL);
  ph_exec_reply(r->ex, job, n);
  json_node_unref(n);
}

static void on_end(void *user, guint job, const ph_exec_end *end) {
  (void)job;
  rec *r = user;
  r->ended++;
  r->end = *end;
  r->end.result = NULL;
  if (end->result) {
    JsonObject *v = end->result;
    JsonNode *reason = json_object_get_member(v, "reason");
    r->result_reason = reason ? json_to_string(reason, FALSE) : NULL;
  }
}

static char *dir, *exe;

static rec run(const char *mode, double timeout, double grace) {
  rec r = {0};
  ph_exec_callbacks cb = {on_message, on_end, NULL};
  r.ex = ph_exec_new(exe, &cb, &r, grace);
  g_autofree char *spec = g_strdup_printf("{\"mode\":\"%s\"}", mode);
  g_autofree char *log = g_build_filename(dir, mode, "try.log", NULL);
  GError *err = NULL;
  int pid = ph_exec_start(r.ex, 7, spec, log, NULL, timeout, &err);
  g_assert_no_error(err);
  g_assert_cmpint(pid, >, 0);
  g_assert_cmpuint(ph_exec_n_running(r.ex), ==, 1);
  double t0 = ph_util_mono();
  while (!r.ended && ph_util_mono() - t0 < 20)
    ph_exec_poll(r.ex, 1.0);
  g_assert_cmpuint(ph_exec_n_running(r.ex), ==, 0);
  ph_exec_free(r.ex);
  return r;
}

static void test_ok(void) {
  rec r = run("ok", 0, 1);
  g_assert_cmpint(r.ended, ==, 1);
  g_assert_cmpint(r.messages, ==, 1);
  g_assert_cmpint(r.end.exit_code, ==, 0);
  /* the script sends back the reply it read: the relay worked */
  g_assert_cmpstr(r.result_reason, ==, "{\"value\":\"pulled\"}");
  g_free(r.result_reason);
  g_autofree char *log = g_build_filename(dir, "ok", "try.log", NULL);
  g_autofree char *text = NULL;
  g_assert_true(g_file_get_contents(log, &text, NULL, NULL));
  g_assert_nonnull(strstr(text, "log line"));
}

static void test_signal(void) {
  rec r = run("segv", 0, 1);
  g_assert_cmpint(r.end.signal, ==, SIGSEGV);
  g_assert_null(r.result_reason);
  g_assert_false(r.end.timed_out);
}

static void test_exit_code(void) {
  rec r = run("exit3", 0, 1);
  g_assert_cmpint(r.end.exit_code, ==, 3);
  g_assert_cmpint(r.end.signal, ==, 0);
}

static void test_timeout_escalates(void) {
  double t0 = ph_util_mono();
  rec r = run("hang", 0.3, 0.3);
  double took = ph_util_mono() - t0;
  g_assert_true(r.end.timed_out);
  g_assert_cmpint(r.end.signal, ==, SIGKILL); /* it ignored SIGTERM */
  g_assert_cmpfloat(took, <, 10);
}

/* A spare worker warms up before it is given its try's socket as fd 3:
 * what the warm-up opens must stay clear of fds 0-3.  Its cancellation
 * pipe once took fd 3, and the socket dup2()ed there was read by the
 * cancellation thread, which swallowed the spec: a rare hang. */
static void test_warm_keeps_low_fds_free(void) {
  int saved = fcntl(3, F_DUPFD_CLOEXEC, 100);
  close(3);
  ph_worker_warm(NULL);
  g_assert_cmpint(fcntl(3, F_GETFD), ==, -1);
  g_assert_cmpint(fcntl(4, F_GETFD), ==, -1);
  if (saved >= 0) {
    dup2(saved, 3);
    close(saved);
  }
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  dir = g_dir_make_tmp("phexec-XXXXXX", NULL);
  exe = g_build_filename(dir, "worker.sh", NULL);
  g_assert_true(g_file_set_contents(exe, script, -1, NULL));
  g_chmod(exe, 0755);
  g_test_add_func("/exec/ok", test_ok);
  g_test_add_func("/exec/warm_keeps_low_fds_free",
                  test_warm_keeps_low_fds_free);
  g_test_add_func("/exec/signal", test_signal);
  g_test_add_func("/exec/exit_code", test_exit_code);
  g_test_add_func("/exec/timeout_escalates", test_timeout_escalates);
  int rc = g_test_run();
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
  if (system(cmd) != 0)
    rc = rc ? rc : 0;
  return rc;
}
