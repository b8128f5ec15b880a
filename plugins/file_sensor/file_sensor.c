/* file_sensor -- waits for a file, any file in a directory, or files that
 * match a glob pattern.  One poke = one look; the host owns the waiting
 * (poke_interval, timeout, mode, soft_fail, exponential_backoff).
 *
 * path: a file; a directory (done when a file exists anywhere below it,
 * as Airflow's FileSensor walks it with os.walk); or a glob pattern
 * (wildcards: star, question mark, brackets).  With recursive, a star
 * also matches across slashes, so a pattern ending in "star.csv" finds
 * CSV files at any depth.
 * min_size: a file counts only once it has at least this many bytes (a
 * file still being written is not yet there).  fs_conn_id: a connection
 * whose path (schema) is the base of a relative path.  When done, the
 * matched paths (sorted, at most 1000) are the sensor's XCom. */
#include <fnmatch.h>
#include <glob.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>
#include <json-glib/json-glib.h>

#include "pipehost/plugin.h"

#define MAX_MATCHES 1000

typedef struct {
  const ph_host *h;
} fs_state;

static ph_status fs_init(const ph_host *h, ph_task *t, void **out) {
  fs_state *s = g_new0(fs_state, 1);
  s->h = h;
  *out = s;
  return PH_OK;
}

static void fs_destroy(void *s) { g_free(s); }

static gboolean big_enough(const char *path, gint64 min_size) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
         (gint64)st.st_size >= min_size;
}

/* Adds the files under dir (recursively when deep) that match pattern
 * (NULL: every file) and are big enough. */
static void walk(const char *dir, gboolean deep, const char *pattern,
                 gint64 min_size, GPtrArray *out, int depth) {
  GDir *d = depth < 64 ? g_dir_open(dir, 0, NULL) : NULL;
  if (!d)
    return;
  const char *name;
  while ((name = g_dir_read_name(d)) && out->len < MAX_MATCHES) {
    char *full = g_build_filename(dir, name, NULL);
    struct stat st;
    if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
      if (deep)
        walk(full, deep, pattern, min_size, out, depth + 1);
      g_free(full);
    } else if ((!pattern || fnmatch(pattern, full, 0) == 0) &&
               big_enough(full, min_size)) {
      g_ptr_array_add(out, full);
    } else {
      g_free(full);
    }
  }
  g_dir_close(d);
}

static gint cmp_str(gconstpointer a, gconstpointer b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static ph_status fs_poke(void *state, ph_task *t, int32_t *done) {
  fs_state *s = state;
  const ph_host *h = s->h;
  const char *path = NULL, *conn = NULL;
  int32_t deep = 0;
  int64_t min_size = 0;
  char *full = NULL;
  GPtrArray *found = g_ptr_array_new_with_free_func(g_free);
  h->param_string(t, "path", &path);
  h->param_bool(t, "recursive", &deep);
  h->param_int(t, "min_size", &min_size);
  if (h->param_string(t, "fs_conn_id", &conn) == PH_OK && conn &&
      !g_path_is_absolute(path)) {
    const char *cj = NULL;
    if (h->connection_get(t, conn, &cj) != PH_OK) {
      h->set_reason(t, "fs_conn_id: connection '%s' is not defined", conn);
      g_ptr_array_unref(found);
      return PH_FAIL;
    }
    JsonNode *n = json_from_string(cj, NULL);
    JsonObject *o = n ? json_node_get_object(n) : NULL;
    const char *schema =
        o ? json_object_get_string_member_with_default(o, "schema", "") : "";
    full = g_build_filename("/", schema, path, NULL);
    if (n)
      json_node_unref(n);
  } else {
    full = g_strdup(path);
  }
  *done = 0;
  if (strpbrk(full, "*?[")) {
    if (deep) {
      /* walk from the last directory before the first wildcard */
      char *wild = strpbrk(full, "*?[");
      char *base = g_strndup(full, wild - full);
      char *slash = strrchr(base, '/');
      if (slash) {
        slash[slash == base ? 1 : 0] = 0;
      } else {
        g_free(base);
        base = g_strdup(".");
      }
      walk(base, TRUE, full, min_size, found, 0);
      g_free(base);
    } else {
      glob_t g;
      if (glob(full, GLOB_NOSORT, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc && found->len < MAX_MATCHES; i++)
          if (big_enough(g.gl_pathv[i], min_size))
            g_ptr_array_add(found, g_strdup(g.gl_pathv[i]));
        globfree(&g);
      }
    }
  } else if (g_file_test(full, G_FILE_TEST_IS_DIR)) {
    /* as Airflow's FileSensor (os.walk): any file anywhere below */
    walk(full, TRUE, NULL, min_size, found, 0);
  } else if (big_enough(full, min_size)) {
    g_ptr_array_add(found, g_strdup(full));
  } else if (g_file_test(full, G_FILE_TEST_EXISTS) && min_size > 0) {
    h->log(t, PH_LOG_INFO,
           "%s exists but is smaller than min_size %" G_GINT64_FORMAT " bytes",
           full, (gint64)min_size);
  }
  if (found->len) {
    g_ptr_array_sort(found, cmp_str);
    JsonArray *a = json_array_new();
    for (guint i = 0; i < found->len; i++)
      json_array_add_string_element(a, found->pdata[i]);
    JsonNode *n = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(n, a);
    JsonGenerator *g = json_generator_new();
    json_generator_set_root(g, n);
    char *txt = json_generator_to_data(g, NULL);
    g_object_unref(g);
    json_node_unref(n);
    h->log(t, PH_LOG_INFO, "found %u file(s) for %s, first %s", found->len,
           full, (char *)found->pdata[0]);
    ph_status st = h->xcom_push(t, NULL, txt);
    g_free(txt);
    if (st != PH_OK) {
      g_ptr_array_unref(found);
      g_free(full);
      return st;
    }
    *done = 1;
  } else {
    h->log(t, PH_LOG_INFO, "nothing at %s yet", full);
  }
  g_ptr_array_unref(found);
  g_free(full);
  return PH_OK;
}

static const ph_param p_path = {
    PH_PARAM_INIT, .name = "path", .type = "string",
    .flags = PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED,
    .doc = "a file, a directory (any file at any depth below it) or a glob "
            "pattern"};
static const ph_param p_recursive = {
    PH_PARAM_INIT, .name = "recursive", .type = "boolean",
    .default_json = "false",
    .doc = "in a glob pattern, * also matches '/' (a directory is always "
            "searched at every depth)"};
static const ph_param p_min_size = {
    PH_PARAM_INIT, .name = "min_size", .type = "integer", .default_json = "0",
    .doc = "a file counts only once it has at least this many bytes"};
static const ph_param p_conn = {
    PH_PARAM_INIT, .name = "fs_conn_id", .type = "string",
    .doc = "a connection whose path is the base of a relative path"};
static const ph_param *const fs_params[] = {&p_path, &p_recursive, &p_min_size,
                                            &p_conn, NULL};

static const ph_operator fs_op = {
    PH_OPERATOR_INIT,
    .type = "file_sensor",
    .doc = "Wait until a file, a file in a directory or a glob match exists "
           "(and is at least min_size bytes); pushes the matched paths",
    .kind = PH_KIND_SENSOR,
    .params = fs_params,
    .init = fs_init,
    .poke = fs_poke,
    .destroy = fs_destroy};

static const ph_operator *const ops[] = {&fs_op, NULL};

static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "file_sensor",
                                 .version = "1.0.0",
                                 .license = "MIT",
                                 .description = "the file sensor",
                                 .origin = "pipehost",
                                 .operators = ops};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
