/* ph_fingerprint -- see ph_fingerprint.h. */
#include "ph_fingerprint.h"

#include "ph_util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static gint cmp_str(gconstpointer a, gconstpointer b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

char *ph_fingerprint_canonical(JsonNode *node) {
  return ph_util_json_write(node, PH_JSON_CANONICAL);
}

char *ph_fingerprint_bytes(const void *data, gsize len) {
  g_autofree char *hex =
      g_compute_checksum_for_data(G_CHECKSUM_SHA256, data, len);
  return g_strconcat("sha256:", hex, NULL);
}

char *ph_fingerprint_json(JsonNode *node) {
  g_autofree char *c = ph_fingerprint_canonical(node);
  return ph_fingerprint_bytes(c, strlen(c));
}

static gboolean hash_file(GChecksum *ck, const char *path, GError **error) {
  gboolean ok = FALSE;
  FILE *f = fopen(path, "rb");
  if (!f) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: cannot be read: %s", path, g_strerror(errno));
    return FALSE;
  }
  guchar buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    g_checksum_update(ck, buf, n);
  if (ferror(f)) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED, "%s: read error",
                path);
    goto out;
  }
  ok = TRUE;
out:
  fclose(f);
  return ok;
}

static gboolean collect(const char *root, const char *rel, GPtrArray *files,
                        int depth, GError **error) {
  g_autofree char *dir =
      rel ? g_build_filename(root, rel, NULL) : g_strdup(root);
  if (depth > 64) {
    g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_FAILED,
                "%s: directories nested too deep (a symlink loop?)", dir);
    return FALSE;
  }
  GDir *d = g_dir_open(dir, 0, error);
  if (!d)
    return FALSE;
  gboolean ok = TRUE;
  const char *name;
  while (ok && (name = g_dir_read_name(d))) {
    char *r = rel ? g_build_filename(rel, name, NULL) : g_strdup(name);
    g_autofree char *full = g_build_filename(root, r, NULL);
    if (g_file_test(full, G_FILE_TEST_IS_DIR)) {
      ok = collect(root, r, files, depth + 1, error);
      g_free(r);
    } else {
      g_ptr_array_add(files, r);
    }
  }
  g_dir_close(d);
  return ok;
}

char *ph_fingerprint_path(const char *path, GError **error) {
  char *result = NULL;
  GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA256);
  GPtrArray *files = g_ptr_array_new_with_free_func(g_free);
  if (!g_file_test(path, G_FILE_TEST_IS_DIR)) {
    if (!hash_file(ck, path, error))
      goto out;
  } else {
    if (!collect(path, NULL, files, 0, error))
      goto out;
    g_ptr_array_sort(files, cmp_str);
    for (guint i = 0; i < files->len; i++) {
      g_autofree char *full = g_build_filename(path, files->pdata[i], NULL);
      GChecksum *fk = g_checksum_new(G_CHECKSUM_SHA256);
      gboolean ok = hash_file(fk, full, error);
      if (ok) {
        const char *rel = files->pdata[i];
        g_checksum_update(ck, (const guchar *)rel, strlen(rel) + 1);
        const char *h = g_checksum_get_string(fk);
        g_checksum_update(ck, (const guchar *)h, strlen(h) + 1);
      }
      g_checksum_free(fk);
      if (!ok)
        goto out;
    }
  }
  result = g_strconcat("sha256:", g_checksum_get_string(ck), NULL);
out:
  g_ptr_array_free(files, TRUE);
  g_checksum_free(ck);
  return result;
}
