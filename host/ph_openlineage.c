/* ph_openlineage -- see ph_openlineage.h. */
#include "ph_openlineage.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ph_util.h"

#define OL_SCHEMA "https://openlineage.io/spec/2-0-2/OpenLineage.json"
#define OL_PRODUCER "https://github.com/pipehost/pipehost/tree/" PH_VERSION

/* libcurl, loaded on first use (dlopen): linking it would cost every
 * pipehost process ~5 ms of start-up for a feature most never turn on. */
typedef struct {
  void *lib;
  CURL *(*easy_init)(void);
  CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*easy_perform)(CURL *);
  CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
  void (*easy_cleanup)(CURL *);
  const char *(*easy_strerror)(CURLcode);
  struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
  void (*slist_free_all)(struct curl_slist *);
} curl_api;

struct ph_openlineage {
  char *url, *ns;
  long timeout;
  curl_api c;
  GAsyncQueue *queue; /* char* event texts; "" ends the thread */
  GThread *thread;
  gboolean warned;
  /* set when the emitter is freed: events still queued after this
   * (monotonic microseconds) are dropped, not sent */
  atomic_llong drain_by;
  guint dropped;
};

static gboolean load_curl(curl_api *c) {
  c->lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!c->lib)
    return FALSE;
#define SYM(field, name)                                                       \
  if (!(*(void **)&c->field = dlsym(c->lib, name)))                            \
    return FALSE;
  SYM(easy_init, "curl_easy_init");
  SYM(easy_setopt, "curl_easy_setopt");
  SYM(easy_perform, "curl_easy_perform");
  SYM(easy_getinfo, "curl_easy_getinfo");
  SYM(easy_cleanup, "curl_easy_cleanup");
  SYM(easy_strerror, "curl_easy_strerror");
  SYM(slist_append, "curl_slist_append");
  SYM(slist_free_all, "curl_slist_free_all");
#undef SYM
  return TRUE;
}

static size_t discard(char *p, size_t size, size_t n, void *u) {
  (void)p;
  (void)u;
  return size * n;
}

/* POSTs one event; a failure is reported once per process. */
static void post(ph_openlineage *ol, const char *body) {
  CURL *h = ol->c.easy_init();
  if (!h)
    return;
  struct curl_slist *hd =
      ol->c.slist_append(NULL, "Content-Type: application/json");
  ol->c.easy_setopt(h, CURLOPT_URL, ol->url);
  ol->c.easy_setopt(h, CURLOPT_HTTPHEADER, hd);
  ol->c.easy_setopt(h, CURLOPT_POSTFIELDS, body);
  ol->c.easy_setopt(h, CURLOPT_TIMEOUT, ol->timeout);
  ol->c.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  ol->c.easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
  CURLcode rc = ol->c.easy_perform(h);
  long status = 0;
  ol->c.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  if ((rc != CURLE_OK || status >= 300) && !ol->warned) {
    ol->warned = TRUE;
    if (rc != CURLE_OK)
      fprintf(stderr, "pipehost: OpenLineage: cannot send to %s: %s\n", ol->url,
              ol->c.easy_strerror(rc));
    else
      fprintf(stderr, "pipehost: OpenLineage: %s answered HTTP %ld\n", ol->url,
              status);
  }
  ol->c.slist_free_all(hd);
  ol->c.easy_cleanup(h);
}

static gpointer sender(gpointer data) {
  ph_openlineage *ol = data;
  for (;;) {
    char *ev = g_async_queue_pop(ol->queue);
    gboolean end = !*ev;
    long long by = atomic_load(&ol->drain_by);
    if (!end && by && g_get_monotonic_time() > by)
      ol->dropped++;
    else if (!end)
      post(ol, ev);
    g_free(ev);
    if (end)
      return NULL;
  }
}

ph_openlineage *ph_openlineage_new(void) {
  const char *url = g_getenv("PIPEHOST_OPENLINEAGE_URL");
  if (!url || !*url)
    return NULL;
  ph_openlineage *ol = g_new0(ph_openlineage, 1);
  if (!load_curl(&ol->c)) {
    fprintf(stderr, "pipehost: OpenLineage: libcurl (libcurl4) cannot be "
                    "loaded; no events are sent\n");
    if (ol->c.lib)
      dlclose(ol->c.lib);
    g_free(ol);
    return NULL;
  }
  const char *ns = g_getenv("PIPEHOST_OPENLINEAGE_NAMESPACE");
  const char *to = g_getenv("PIPEHOST_OPENLINEAGE_TIMEOUT");
  ol->url = g_strdup(url);
  ol->ns = g_strdup(ns && *ns ? ns : "pipehost");
  ol->timeout = to ? MAX(1, atol(to)) : 5;
  ol->queue = g_async_queue_new();
  ol->thread = g_thread_new("openlineage", sender, ol);
  return ol;
}

void ph_openlineage_free(ph_openlineage *ol) {
  if (!ol)
    return;
  /* the run waits for its events, but not for ever: a backend that does
   * not answer gets the timeout's worth of draining, then the rest go */
  atomic_store(&ol->drain_by, (long long)(g_get_monotonic_time() +
                                          ol->timeout * G_USEC_PER_SEC));
  g_async_queue_push(ol->queue, g_strdup(""));
  g_thread_join(ol->thread);
  if (ol->dropped)
    fprintf(stderr,
            "pipehost: OpenLineage: %u events not sent: %s did not take them "
            "within %ld s\n",
            ol->dropped, ol->url, ol->timeout);
  g_async_queue_unref(ol->queue);
  dlclose(ol->c.lib);
  g_free(ol->url);
  g_free(ol->ns);
  g_free(ol);
}

char *ph_openlineage_run_id(const char *run_key) {
  g_autofree char *h = g_compute_checksum_for_string(
      G_CHECKSUM_SHA256, run_key ? run_key : "", -1);
  /* version 5 layout: xxxxxxxx-xxxx-5xxx-Vxxx-xxxxxxxxxxxx, V in 8..b */
  static const char variant[] = "89ab";
  return g_strdup_printf("%.8s-%.4s-5%.3s-%c%.3s-%.12s", h, h + 8, h + 13,
                         variant[g_ascii_xdigit_value(h[16]) & 3], h + 17,
                         h + 20);
}

JsonObject *ph_openlineage_dataset(const char *uri, const char *default_ns) {
  JsonObject *o = json_object_new();
  const char *sep = strstr(uri, "://");
  if (!sep || sep == uri) {
    json_object_set_string_member(o, "namespace", default_ns);
    json_object_set_string_member(o, "name", uri);
    return o;
  }
  const char *auth = sep + 3, *path = strchr(auth, '/');
  if (!path)
    path = auth + strlen(auth);
  if (path == auth) { /* file:///x/y: no authority */
    g_autofree char *scheme = g_strndup(uri, (gsize)(sep - uri));
    json_object_set_string_member(o, "namespace", scheme);
    json_object_set_string_member(o, "name", path);
    return o;
  }
  g_autofree char *ns = g_strndup(uri, (gsize)(path - uri));
  json_object_set_string_member(o, "namespace", ns);
  json_object_set_string_member(o, "name", *path ? path + 1 : "");
  return o;
}

/* A facet's required members. */
static JsonObject *facet(const char *name) {
  JsonObject *f = json_object_new();
  json_object_set_string_member(f, "_producer", OL_PRODUCER);
  g_autofree char *schema = g_strdup_printf(
      "https://openlineage.io/spec/facets/1-0-0/%s.json#/$defs/%s", name, name);
  json_object_set_string_member(f, "_schemaURL", schema);
  return f;
}

static JsonArray *datasets(JsonArray *uris, const char *ns) {
  JsonArray *a = json_array_new();
  for (guint i = 0; uris && i < json_array_get_length(uris); i++)
    json_array_add_object_element(
        a, ph_openlineage_dataset(json_array_get_string_element(uris, i), ns));
  return a;
}

void ph_openlineage_emit(ph_openlineage *ol, const char *type, const char *job,
                         const char *run_key, const char *parent_job,
                         const char *parent_key, JsonArray *inputs,
                         JsonArray *outputs, const char *error) {
  if (!ol)
    return;
  JsonObject *ev = json_object_new();
  json_object_set_string_member(ev, "eventType", type);
  g_autoptr(GDateTime) now = g_date_time_new_now_utc();
  g_autofree char *when = g_date_time_format_iso8601(now);
  json_object_set_string_member(ev, "eventTime", when);
  json_object_set_string_member(ev, "producer", OL_PRODUCER);
  json_object_set_string_member(ev, "schemaURL", OL_SCHEMA "#/$defs/RunEvent");
  JsonObject *run = json_object_new(), *facets = json_object_new();
  g_autofree char *rid = ph_openlineage_run_id(run_key);
  json_object_set_string_member(run, "runId", rid);
  if (parent_job) {
    JsonObject *p = facet("ParentRunFacet");
    JsonObject *pj = json_object_new(), *pr = json_object_new();
    g_autofree char *prid = ph_openlineage_run_id(parent_key);
    json_object_set_string_member(pj, "namespace", ol->ns);
    json_object_set_string_member(pj, "name", parent_job);
    json_object_set_string_member(pr, "runId", prid);
    json_object_set_object_member(p, "job", pj);
    json_object_set_object_member(p, "run", pr);
    json_object_set_object_member(facets, "parent", p);
  }
  if (error) {
    JsonObject *e = facet("ErrorMessageRunFacet");
    json_object_set_string_member(e, "message", error);
    json_object_set_string_member(e, "programmingLanguage", "C");
    json_object_set_object_member(facets, "errorMessage", e);
  }
  json_object_set_object_member(run, "facets", facets);
  json_object_set_object_member(ev, "run", run);
  JsonObject *j = json_object_new();
  json_object_set_string_member(j, "namespace", ol->ns);
  json_object_set_string_member(j, "name", job);
  json_object_set_object_member(ev, "job", j);
  json_object_set_array_member(ev, "inputs", datasets(inputs, ol->ns));
  json_object_set_array_member(ev, "outputs", datasets(outputs, ol->ns));
  JsonNode *n = json_node_new(JSON_NODE_OBJECT);
  json_node_take_object(n, ev);
  g_async_queue_push(ol->queue, ph_util_json_dup(n));
  json_node_unref(n);
}
