/* The registry loads good plugins and refuses each bad one, naming the
 * file and the check. */
#include <glib.h>
#include <string.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

#include "ph_registry.h"

static void test_good(void) {
  ph_registry *r = ph_registry_new();
  g_assert_cmpuint(ph_registry_scan_dir(r, PH_TEST_PLUGIN_DIR), ==, 1);
  g_assert_cmpuint(ph_registry_scan_dir(r, PH_BUILTIN_PLUGIN_DIR), >=, 2);
  const ph_plugin *p = NULL;
  const ph_operator *op = ph_registry_lookup(r, "crash", &p, NULL);
  g_assert_nonnull(op);
  g_assert_cmpstr(p->name, ==, "testops");
  g_assert_true(ph_registry_lookup(r, "testops.crash", NULL, NULL) == op);
  g_assert_nonnull(ph_registry_lookup(r, "bash", NULL, NULL));
  g_assert_null(ph_registry_lookup(r, "nope", NULL, NULL));
  g_assert_nonnull(ph_registry_find_param(
      ph_registry_lookup(r, "bash", NULL, NULL), "command"));
  ph_registry_free(r);
}

static const struct {
  const char *file, *check;
} bad[] = {
    {"bad_major.so", "ABI major"},
    {"bad_minor.so", "ABI minor"},
    {"null_name.so", "required field: descriptor field 'name'"},
    {"null_operators.so", "required field: descriptor field 'operators'"},
    {"no_execute.so", "required callback: operator 'bad_op' has no execute"},
    {"dup_plugin.so", "duplicate plugin"},
    {"dup_operator.so", "duplicate operator: 'bash'"},
    {"no_entry.so", "entry point"},
    {"small_struct.so", "descriptor size"},
    {"bad_param_type.so", "param type"},
    {"big_struct.so", "larger than this host's"},
    {"host_key_param.so", "param name: 'bad_op.timeout' is a task key"},
};

static void test_bad(void) {
  for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
    ph_registry *r = ph_registry_new();
    ph_registry_scan_dir(r, PH_BUILTIN_PLUGIN_DIR); /* bash for dups */
    g_autofree char *path =
        g_build_filename(PH_BAD_PLUGIN_DIR, bad[i].file, NULL);
    GError *err = NULL;
    g_assert_null(ph_registry_load_file(r, path, &err));
    g_assert_nonnull(err);
    if (!strstr(err->message, bad[i].check) || !strstr(err->message, path))
      g_error("%s: message '%s' lacks '%s' or the path", bad[i].file,
              err->message, bad[i].check);
    g_error_free(err);
    g_assert_cmpuint(ph_registry_n_problems(r), >=, 1);
    ph_registry_free(r);
  }
}

static void test_writable_refused(void) {
  g_autofree char *dir = g_dir_make_tmp("phreg-XXXXXX", NULL);
  g_assert_nonnull(dir);
  g_autofree char *src =
      g_build_filename(PH_TEST_PLUGIN_DIR, "testops.so", NULL);
  g_autofree char *dst = g_build_filename(dir, "testops.so", NULL);
  gchar *data;
  gsize len;
  g_assert_true(g_file_get_contents(src, &data, &len, NULL));
  g_assert_true(g_file_set_contents(dst, data, len, NULL));
  g_free(data);
  chmod(dir, 0755);
  chmod(dst, 0666);
  ph_registry *r = ph_registry_new();
  GError *err = NULL;
  g_assert_null(ph_registry_load_file(r, dst, &err));
  g_assert_nonnull(strstr(err->message, "permissions"));
  g_clear_error(&err);
  chmod(dst, 0644);
  chmod(dir, 0777);
  g_assert_null(ph_registry_load_file(r, dst, &err));
  g_assert_nonnull(strstr(err->message, "its directory"));
  g_clear_error(&err);
  chmod(dir, 0755);
  g_assert_nonnull(ph_registry_load_file(r, dst, &err));
  ph_registry_free(r);
  g_unlink(dst);
  g_rmdir(dir);
}

static void test_check_descriptor_null(void) {
  GError *err = NULL;
  g_assert_false(ph_registry_check_descriptor(NULL, &err));
  g_assert_nonnull(strstr(err->message, "returned NULL"));
  g_error_free(err);
}

/* Copies the test plugin into a new directory of its own (0700) and
 * returns the copy's path. */
static char *copy_plugin(void) {
  g_autofree char *dir = g_dir_make_tmp("ph-scan-XXXXXX", NULL);
  g_assert_nonnull(dir);
  g_chmod(dir, 0700);
  g_autofree char *src =
      g_build_filename(PH_TEST_PLUGIN_DIR, "testops.so", NULL);
  char *dst = g_build_filename(dir, "testops.so", NULL);
  g_autofree char *bytes = NULL;
  gsize len = 0;
  g_assert_true(g_file_get_contents(src, &bytes, &len, NULL));
  g_assert_true(g_file_set_contents(dst, bytes, (gssize)len, NULL));
  g_chmod(dst, 0755);
  return dst;
}

static gboolean cache_mentions(const char *cache, const char *what) {
  g_autofree char *text = NULL;
  if (!g_file_get_contents(cache, &text, NULL, NULL))
    return FALSE;
  return strstr(text, what) != NULL;
}

/* The scan cache keeps only entries that describe files as they are now
 * (it had grown by one line per plugin build ever vetted, and every
 * command reads all of it); a sandboxed registry (a worker) neither vets
 * nor touches the cache. */
static void test_scan_cache(void) {
  const char *cache = g_getenv("PIPEHOST_PLUGIN_CACHE");
  g_assert_true(g_file_set_contents(
      cache,
      PH_VERSION " /nonexistent/gone.so 1 2 3 4.000000000 5.000000000\n"
                 "0.0.0-old /usr/lib/old.so 1 2 3 4.000000000 5.000000000\n",
      -1, NULL));
  g_autofree char *plugin = copy_plugin();
  ph_registry *sb = ph_registry_new();
  ph_registry_set_sandboxed(sb, TRUE);
  g_assert_nonnull(ph_registry_load_file(sb, plugin, NULL));
  ph_registry_free(sb);
  g_assert_false(cache_mentions(cache, plugin));
  g_assert_true(cache_mentions(cache, "/nonexistent/gone.so"));

  ph_registry *r = ph_registry_new();
  g_assert_nonnull(ph_registry_load_file(r, plugin, NULL));
  ph_registry_free(r);
  g_assert_true(cache_mentions(cache, plugin));
  g_assert_false(cache_mentions(cache, "/nonexistent/gone.so"));
  g_assert_false(cache_mentions(cache, "0.0.0-old"));
  g_autofree char *dir = g_path_get_dirname(plugin);
  g_unlink(plugin);
  g_rmdir(dir);
}

int main(int argc, char **argv) {
  /* a cache of this test's own (read once per process) */
  g_autofree char *cdir = g_dir_make_tmp("ph-scan-cache-XXXXXX", NULL);
  g_autofree char *cache = g_build_filename(cdir, "plugin-scan", NULL);
  g_setenv("PIPEHOST_PLUGIN_CACHE", cache, TRUE);
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/registry/scan_cache", test_scan_cache);
  g_test_add_func("/registry/good", test_good);
  g_test_add_func("/registry/bad", test_bad);
  g_test_add_func("/registry/writable", test_writable_refused);
  g_test_add_func("/registry/null_descriptor", test_check_descriptor_null);
  int rc = g_test_run();
  g_unlink(cache);
  g_rmdir(cdir);
  return rc;
}
