/* The store keeps runs, task instances, tries, XComs and variables, and
 * what was committed survives closing (a kill) and reopening. */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ph_store.h"

static char *home;

static void test_roundtrip(void) {
  GError *err = NULL;
  ph_store *s = ph_store_open(home, &err);
  g_assert_no_error(err);
  ph_store_begin(s);
  g_assert_cmpint(1, ==, ph_store_run_create(s, "r1", "dag", "/x.yaml", "2024-01-01",
                                    "{}", "manual"));
  g_assert_cmpint(0, ==, ph_store_run_create(s, "r1", "dag", "/x.yaml", "2024-01-01",
                                     "{}", "manual"));
  ph_store_ti_create(s, "r1", "a", -1, "bash", 2);
  ph_store_ti_set(s, "r1", "a", -1, "running", 1, 10.0, -1, 123, NULL);
  ph_store_try_start(s, "r1", "a", -1, 1, 10.0, 123, NULL, "/tmp/a.log");
  ph_store_xcom_set(s, "r1", "a", -1, "return_value", "\"42\"");
  ph_store_var_set(s, "k", "v");
  g_assert_true(ph_store_commit(s, &err));
  /* an uncommitted write is lost when the process dies */
  ph_store_begin(s);
  ph_store_xcom_set(s, "r1", "a", -1, "lost", "1");
  ph_store_close(s); /* close commits; simulate a crash differently below */

  s = ph_store_open(home, &err);
  g_autofree char *x = ph_store_xcom_get(s, "r1", "a", "return_value");
  g_assert_cmpstr(x, ==, "\"42\"");
  g_autofree char *v = ph_store_var_get(s, "k");
  g_assert_cmpstr(v, ==, "v");
  g_autofree char *lp = ph_store_log_path(s, "r1", "a", -1, 0);
  g_assert_cmpstr(lp, ==, "/tmp/a.log");
  JsonNode *run = ph_store_run_show(s, "r1");
  JsonObject *ro = json_node_get_object(run);
  JsonArray *tasks = json_object_get_array_member(ro, "tasks");
  g_assert_cmpuint(json_array_get_length(tasks), ==, 1);
  JsonObject *t = json_array_get_object_element(tasks, 0);
  g_assert_cmpstr(json_object_get_string_member(t, "state"), ==, "running");
  g_assert_cmpint(json_object_get_int_member(t, "pid"), ==, 123);
  json_node_unref(run);
  /* resolve: exact, prefix, last */
  g_autofree char *a = ph_store_run_resolve(s, "r1", NULL);
  g_assert_cmpstr(a, ==, "r1");
  g_autofree char *l = ph_store_run_resolve(s, "last", NULL);
  g_assert_cmpstr(l, ==, "r1");
  GError *e2 = NULL;
  g_assert_null(ph_store_run_resolve(s, "zz", &e2));
  g_assert_nonnull(strstr(e2->message, "no run"));
  g_error_free(e2);
  ph_store_xcom_clear(s, "r1", "a", -1);
  g_autofree char *gone = ph_store_xcom_get(s, "r1", "a", "return_value");
  g_assert_null(gone);
  g_assert_true(ph_store_var_delete(s, "k"));
  g_assert_false(ph_store_var_delete(s, "k"));
  ph_store_close(s);
}

static void test_not_a_store(void) {
  g_autofree char *dir = g_build_filename(home, "junk", NULL);
  g_mkdir_with_parents(dir, 0700);
  g_autofree char *db = g_build_filename(dir, "pipehost.db", NULL);
  g_file_set_contents(db, "this is not sqlite, just text padding....", -1,
                      NULL);
  GError *err = NULL;
  g_assert_null(ph_store_open(dir, &err));
  g_assert_nonnull(err);
  g_assert_nonnull(strstr(err->message, "pipehost.db"));
  g_error_free(err);
}

/* Two connections in one process (the webserver has one per thread):
 * opening the second must not drop the first's locks.  POSIX record locks
 * belong to the process, and closing any descriptor of the file releases
 * them all; with the first connection's locks gone, the next process to
 * close its connection takes itself for the last one, checkpoints and
 * deletes the WAL, and the first connection reads (and writes) a WAL that
 * no longer exists: a view that never changes again. */
static void test_two_connections(void) {
  g_autofree char *dir = g_build_filename(home, "two", NULL);
  GError *err = NULL;
  ph_store *a = ph_store_open(dir, &err);
  g_assert_no_error(err);
  ph_store_meta_set(a, "k", "1");
  g_autofree char *k1 = ph_store_meta_get(a, "k");
  g_assert_cmpstr(k1, ==, "1");
  ph_store *b = ph_store_open(dir, &err);
  g_assert_no_error(err);
  g_autofree char *kb = ph_store_meta_get(b, "k");
  g_assert_cmpstr(kb, ==, "1");
  int ready[2], hold[2];
  g_assert_cmpint(pipe(ready), ==, 0);
  g_assert_cmpint(pipe(hold), ==, 0);
  pid_t pid = fork();
  if (pid == 0) {
    /* another process (a new one: a forked child would share this one's
     * idea of its locks) writes and closes its store -- the last one, if
     * a's locks are gone: it deletes the WAL -- then writes again and
     * stays until told */
    close(ready[0]);
    close(hold[1]);
    g_autofree char *r = g_strdup_printf("%d", ready[1]);
    g_autofree char *h = g_strdup_printf("%d", hold[0]);
    execl("/proc/self/exe", "test_ph_store", "--writer", dir, r, h, NULL);
    _exit(127);
  }
  close(ready[1]);
  close(hold[0]);
  char x;
  g_assert_cmpint(read(ready[0], &x, 1), ==, 1);
  g_autofree char *k = ph_store_meta_get(a, "k");
  g_assert_cmpstr(k, ==, "3");
  close(hold[1]);
  close(ready[0]);
  int status = 0;
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  /* and what a writes now reaches the file others read */
  ph_store_meta_set(a, "k", "4");
  ph_store *d = ph_store_open(dir, &err);
  g_assert_no_error(err);
  g_autofree char *k4 = ph_store_meta_get(d, "k");
  g_assert_cmpstr(k4, ==, "4");
  ph_store_close(d);
  ph_store_close(b);
  ph_store_close(a);
}

/* test_two_connections' other process: --writer DIR READY_FD HOLD_FD */
static int writer(char **argv) {
  int ready = atoi(argv[3]), hold = atoi(argv[4]);
  ph_store *c = ph_store_open(argv[2], NULL);
  if (!c)
    return 1;
  ph_store_meta_set(c, "k", "2");
  ph_store_close(c);
  c = ph_store_open(argv[2], NULL);
  ph_store_meta_set(c, "k", "3");
  char x = 'x', y;
  if (write(ready, &x, 1) != 1 || read(hold, &y, 1) < 0)
    return 1;
  ph_store_close(c);
  return 0;
}

/* After ph_store_fork the store reconnects at its next use. Another
 * process may hold the file locked then (one closing its connection
 * checkpoints under an exclusive lock): the reconnection waits for it as
 * every statement does, instead of failing with "database is locked" --
 * which made a scheduler that had just forked a run stop, in CI. */
static void test_reconnect_waits(void) {
  g_autofree char *dir = g_build_filename(home, "reconnect", NULL);
  GError *err = NULL;
  ph_store *a = ph_store_open(dir, &err);
  g_assert_no_error(err);
  ph_store_meta_set(a, "k", "1");
  pid_t child = ph_store_fork(a, &err);
  g_assert_no_error(err);
  if (child == 0)
    _exit(0);
  int status = 0;
  g_assert_cmpint(waitpid(child, &status, 0), ==, child);
  int ready[2];
  g_assert_cmpint(pipe(ready), ==, 0);
  pid_t pid = fork();
  if (pid == 0) {
    close(ready[0]);
    g_autofree char *r = g_strdup_printf("%d", ready[1]);
    execl("/proc/self/exe", "test_ph_store", "--locker", dir, r, NULL);
    _exit(127);
  }
  close(ready[1]);
  char x;
  g_assert_cmpint(read(ready[0], &x, 1), ==, 1);
  close(ready[0]);
  /* the locker holds the file for 300 ms from here */
  g_autofree char *k = ph_store_meta_get(a, "k");
  g_assert_cmpstr(k, ==, "2");
  g_assert_null(ph_store_get_error(a));
  g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
  g_assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ph_store_close(a);
}

/* test_reconnect_waits' other process: --locker DIR READY_FD. Holds the
 * store's file under an exclusive lock for 300 ms and writes k=2. */
static int locker(char **argv) {
  g_autofree char *path = g_build_filename(argv[2], "pipehost.db", NULL);
  sqlite3 *db = NULL;
  if (sqlite3_open(path, &db) != SQLITE_OK ||
      sqlite3_exec(db,
                   "PRAGMA locking_mode=EXCLUSIVE;BEGIN EXCLUSIVE;"
                   "UPDATE meta SET value='2' WHERE key='k';",
                   NULL, NULL, NULL) != SQLITE_OK)
    return 1;
  char x = 'x';
  if (write(atoi(argv[3]), &x, 1) != 1)
    return 1;
  g_usleep(300000);
  int rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  sqlite3_close(db);
  return rc == SQLITE_OK ? 0 : 1;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "--writer"))
    return writer(argv);
  if (argc == 4 && !strcmp(argv[1], "--locker"))
    return locker(argv);
  g_test_init(&argc, &argv, NULL);
  home = g_dir_make_tmp("phstore-XXXXXX", NULL);
  g_test_add_func("/store/roundtrip", test_roundtrip);
  g_test_add_func("/store/two_connections", test_two_connections);
  g_test_add_func("/store/reconnect_waits", test_reconnect_waits);
  g_test_add_func("/store/not_a_store", test_not_a_store);
  int rc = g_test_run();
  g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", home);
  if (system(cmd) != 0)
    rc = rc ? rc : 0;
  g_free(home);
  return rc;
}
