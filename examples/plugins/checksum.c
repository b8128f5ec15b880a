/* checksum -- the SHA-256 of a file as the XCom return_value.
 * Build: cc -shared -fPIC $(pkg-config --cflags --libs pipehost-plugin
 *        glib-2.0) checksum.c -o checksum.so */
#include <glib.h>
#include <pipehost/plugin.h>

static ph_status checksum(const ph_host *h, ph_task *t, void *state) {
  const char *path = NULL;
  char *data = NULL;
  gsize len = 0;
  h->param_string(t, "path", &path);
  if (!g_file_get_contents(path, &data, &len, NULL)) {
    h->set_error(t, "cannot read the file", path, "check the path param");
    return PH_FAIL_NO_RETRY;
  }
  char *sum =
      g_compute_checksum_for_data(G_CHECKSUM_SHA256, (guchar *)data, len);
  ph_status st = h->xcom_push_text(t, NULL, sum);
  g_free(sum);
  g_free(data);
  return st;
}

static const ph_param p_path = {PH_PARAM_INIT, .name = "path", .type = "string",
                                .flags = PH_PARAM_REQUIRED | PH_PARAM_PATH,
                                .doc = "the file to checksum"};
static const ph_param *const params[] = {&p_path, NULL};
static const ph_operator op = {
    PH_OPERATOR_INIT,     .type = "checksum", .doc = "SHA-256 of a file",
    .kind = PH_KIND_TASK, .params = params,   .execute2 = checksum};
static const ph_operator *const ops[] = {&op, NULL};
static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "checksum",
                                 .version = "1.0",
                                 .license = "MIT",
                                 .description = "file checksums",
                                 .operators = ops};
PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
