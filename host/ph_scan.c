/* ph_scan -- see ph_scan.h. */
#include "ph_scan.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ph_proc.h"
#include "ph_util.h"
#include "pipehost/plugin.h"

/* seconds a plugin's load-time code may take */
#define PH_SCAN_TIMEOUT 10

static GHashTable *g_good; /* identity line -> 1 */
static char *g_cache_path;

static const char *cache_path(void) {
  if (g_cache_path)
    return *g_cache_path ? g_cache_path : NULL;
  const char *env = g_getenv("PIPEHOST_PLUGIN_CACHE");
  if (env && !strcmp(env, "off"))
    g_cache_path = g_strdup("");
  else if (env && *env)
    g_cache_path = g_strdup(env);
  else
    g_cache_path = g_build_filename(g_get_user_cache_dir(), "pipehost",
                                    "plugin-scan", NULL);
  return *g_cache_path ? g_cache_path : NULL;
}

static void load_cache(void) {
  if (g_good)
    return;
  g_good = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *text = NULL;
  if (!cache_path() || !g_file_get_contents(cache_path(), &text, NULL, NULL))
    return;
  g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
  for (char **l = lines; *l; l++)
    if (**l)
      g_hash_table_add(g_good, g_strdup(*l));
}

static char *identity(const char *real, const struct stat *st) {
  g_autofree char *file = ph_util_stat_identity(st);
  return g_strdup_printf("%s %s %s", PH_VERSION, real, file);
}

/* TRUE when line is the identity of a file as it is now: an entry of this
 * pipehost's version whose file still has that path, inode, size and
 * times.  "VERSION PATH DEV INO SIZE MTIME CTIME"; PATH may hold spaces. */
static gboolean still_current(const char *line) {
  const char *path = strchr(line, ' ');
  if (!path || strncmp(line, PH_VERSION, (size_t)(path - line)) ||
      strlen(PH_VERSION) != (size_t)(path - line))
    return FALSE;
  path++;
  const char *end = line + strlen(line);
  for (int k = 0; k < 5 && end > path; k++)
    while (--end > path && *end != ' ')
      ;
  if (end <= path)
    return FALSE;
  g_autofree char *real = g_strndup(path, (gsize)(end - path));
  struct stat st;
  if (stat(real, &st) != 0)
    return FALSE;
  g_autofree char *now = identity(real, &st);
  return strcmp(now, line) == 0;
}

static void save_cache(void) {
  const char *p = cache_path();
  if (!p)
    return;
  /* other processes may have added entries since we read it: keep them
   * (a lost entry only costs a scan, but every start would pay it) */
  g_autofree char *text = NULL;
  if (g_file_get_contents(p, &text, NULL, NULL)) {
    g_auto(GStrv) lines = g_strsplit(text, "\n", -1);
    for (char **l = lines; *l; l++)
      if (**l && !g_hash_table_contains(g_good, *l))
        g_hash_table_add(g_good, g_strdup(*l));
  }
  g_autofree char *dir = g_path_get_dirname(p);
  if (g_mkdir_with_parents(dir, 0700) != 0)
    return;
  /* drop what no longer describes a file (rebuilt, moved or removed
   * plugins, other versions): the cache stays the size of what is
   * installed, and every command reads all of it */
  GString *out = g_string_new(NULL);
  GHashTableIter it;
  gpointer k;
  g_hash_table_iter_init(&it, g_good);
  while (g_hash_table_iter_next(&it, &k, NULL))
    if (still_current(k))
      g_string_append_printf(out, "%s\n", (char *)k);
  /* a cache that cannot be written only costs a scan next time */
  g_file_set_contents(p, out->str, out->len, NULL);
  g_string_free(out, TRUE);
}

/* The child: loads real, calls its entry point, checks the descriptor and
 * writes "OK" or the failure to fd; never returns. */
G_GNUC_NORETURN static void child(const char *real, int fd,
                                  gboolean (*check)(const void *, GError **)) {
  const char *msg = "OK";
  g_autofree char *buf = NULL;
  void *h = dlopen(real, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    msg = buf = g_strdup_printf("dlopen: %s", why ? why : "failed");
  } else {
    const ph_plugin *(*entry)(void) =
        (const ph_plugin *(*)(void))dlsym(h, PH_PLUGIN_ENTRY);
    GError *err = NULL;
    if (!entry)
      msg = "entry point: no exported function " PH_PLUGIN_ENTRY "()";
    else if (!check(entry(), &err))
      msg = buf = g_strdup(err->message);
  }
  ph_proc_write_all(fd, msg, strlen(msg));
  _exit(0);
}

gboolean ph_scan_vet(const char *path, const char *real, const struct stat *st,
                     gboolean (*check)(const void *desc, GError **error),
                     GError **error) {
  load_cache();
  g_autofree char *id = identity(real, st);
  if (g_hash_table_contains(g_good, id))
    return TRUE;
  int fd;
  pid_t pid = ph_proc_fork_pipe(&fd);
  if (pid < 0) {
    g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                "%s: scan: fork: %s", path, g_strerror(errno));
    return FALSE;
  }
  if (pid == 0) {
    int nul = open("/dev/null", O_RDWR);
    if (nul >= 0) { /* what the plugin prints while loading is not ours */
      dup2(nul, 0);
      dup2(nul, 1);
    }
    child(real, fd, check);
  }
  GString *out = g_string_new(NULL);
  gint64 until = g_get_monotonic_time() + PH_SCAN_TIMEOUT * G_USEC_PER_SEC;
  gboolean hung = FALSE;
  for (;;) {
    struct pollfd pf = {fd, POLLIN, 0};
    gint64 left = (until - g_get_monotonic_time()) / 1000;
    int rc = left > 0 ? poll(&pf, 1, (int)left) : 0;
    if (rc < 0 && errno == EINTR)
      continue;
    if (rc == 0) {
      hung = TRUE;
      kill(pid, SIGKILL);
      break;
    }
    char buf[1024];
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    g_string_append_len(out, buf, r);
  }
  close(fd);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  gboolean ok = FALSE;
  if (hung)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: load-time code: loading it did not finish within %d s "
                "(its constructors or " PH_PLUGIN_ENTRY "() hang)",
                path, PH_SCAN_TIMEOUT);
  else if (WIFSIGNALED(status))
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: load-time code: loading it killed the scanning process "
                "with signal %d (%s), in its constructors or " PH_PLUGIN_ENTRY
                "()",
                path, WTERMSIG(status), g_strsignal(WTERMSIG(status)));
  else if (!out->len)
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: load-time code: loading it ended the scanning process "
                "(exit code %d), in its constructors or " PH_PLUGIN_ENTRY "()",
                path, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  else if (strcmp(out->str, "OK"))
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: %s", path,
                out->str);
  else
    ok = TRUE;
  g_string_free(out, TRUE);
  if (ok) {
    g_hash_table_add(g_good, g_steal_pointer(&id));
    save_cache();
  }
  return ok;
}
