/* web_main -- pipehost-web, the program behind `pipehost webserver`: an
 * HTTP server (libsoup-3, on the GLib main loop) for the REST API
 * (ph_api) over the store under $PIPEHOST_HOME.  A program of its own so
 * that libsoup and its libraries load only here, not in every pipehost
 * command.
 *
 *   pipehost webserver [--bind ADDR] [--port N] [--print-token]
 *
 * The bearer token is made at first start into $PIPEHOST_HOME/
 * webserver.token (mode 0600).  Bound to loopback (the default), reads
 * need no token; bound elsewhere, they do.  SIGTERM or SIGINT stops it.
 *
 * libsoup's I/O runs on the main loop; API requests are answered on a
 * pool of threads (one per core, 2 to 8), each with its own ph_api over
 * its own store connection; graphs on one thread of their own (Graphviz is
 * not thread-safe), the assets on the main loop. */
#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <libsoup/soup.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ph_api.h"
#include "ph_proc.h"
#include "ph_store.h"
#include "ph_plan.h"
#include "ph_timetable.h"
#include "ph_util.h"
#include "web_graph.h"

/* The token in home/webserver.token, made (0600) when missing; NULL with
 * *why set when it can be neither read nor made. */
static char *load_token(const char *home, char **why) {
  g_autofree char *path = g_build_filename(home, "webserver.token", NULL);
  char *text = NULL;
  if (g_file_get_contents(path, &text, NULL, NULL)) {
    g_strstrip(text);
    if (strlen(text) >= 32)
      return text;
    g_free(text);
  }
  guchar raw[32];
  if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw) {
    *why = g_strdup_printf("cannot make a token: %s", g_strerror(errno));
    return NULL;
  }
  GString *hex = g_string_new(NULL);
  for (guint i = 0; i < sizeof raw; i++)
    g_string_append_printf(hex, "%02x", raw[i]);
  g_mkdir_with_parents(home, 0700);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  gboolean ok = fd >= 0 && fchmod(fd, 0600) == 0 &&
                ph_proc_write_all(fd, hex->str, hex->len) &&
                ph_proc_write_all(fd, "\n", 1);
  if (fd >= 0)
    close(fd);
  if (!ok) {
    *why = g_strdup_printf("cannot write %s: %s", path, g_strerror(errno));
    g_string_free(hex, TRUE);
    return NULL;
  }
  return g_string_free(hex, FALSE);
}

/* What the server knows beyond the API. */
typedef struct {
  ph_api *api;       /* the main thread's: graph, CSRF cookie */
  gboolean loopback; /* the UI gets the CSRF cookie (off loopback it asks
                        for the token instead) */
  web_graph *graph;  /* Graphviz, for /object/graph */
  char *dags_dir;    /* --dags-dir, or NULL */
  /* API requests are answered on a pool of threads, each with an API
   * over a store connection of its own (WAL lets readers run side by
   * side), so that one slow request does not hold up the others and both
   * cores serve; libsoup's I/O stays on the main loop. */
  GThreadPool *pool;
  GThreadPool *graphs; /* one thread: Graphviz and the main ph_api */
  GMutex graph_lock;   /* w->graph and w->api, shared with refresh_dags */
  GPrivate *mine;    /* the thread's ph_api */
  GMutex lock;       /* guards what follows */
  GPtrArray *apis;   /* every thread's ph_api (freed at exit) */
  char *dir_json;    /* the --dags-dir's DAGs as JSON text, or NULL */
  guint dir_gen;     /* bumped when dir_json changes */
  const char *home, *token, *exe;
  gboolean reads_need_token;
} web;

/* What the --dags-dir's files define (plans cached by file identity): the
 * DAG list's schedule and next run of DAGs, with runs or not yet.  Files
 * that do not validate are left out (`pipehost validate` says why). */
static gboolean refresh_dags(gpointer user) {
  web *w = user;
  GDir *d = g_dir_open(w->dags_dir, 0, NULL);
  if (!d)
    return G_SOURCE_CONTINUE;
  g_mutex_lock(&w->graph_lock);
  JsonArray *a = json_array_new();
  const char *name;
  while ((name = g_dir_read_name(d))) {
    if (!g_str_has_suffix(name, ".yaml") && !g_str_has_suffix(name, ".yml") &&
        !g_str_has_suffix(name, ".lua"))
      continue;
    g_autofree char *path = g_build_filename(w->dags_dir, name, NULL);
    g_autofree char *abs = g_canonicalize_filename(path, NULL);
    g_autofree char *why = NULL;
    const ph_plan *plan = web_graph_plan(w->graph, abs, &why);
    if (!plan)
      continue;
    JsonObject *args = ph_dag_get_args(ph_plan_get_dag(plan));
    JsonObject *o = json_object_new();
    json_object_set_string_member(o, "dag_id", ph_plan_get_dag_id(plan));
    json_object_set_string_member(o, "fileloc", abs);
    JsonNode *sn = json_object_get_member(args, "schedule");
    g_autofree char *sched =
        sn && !JSON_NODE_HOLDS_NULL(sn)
            ? (JSON_NODE_HOLDS_VALUE(sn) ? g_strdup(json_node_get_string(sn))
                                         : ph_util_json_dup(sn))
            : NULL;
    if (sched) {
      /* Airflow's shape for a schedule given as text */
      JsonObject *si = json_object_new();
      json_object_set_string_member(si, "__type", "CronExpression");
      json_object_set_string_member(si, "value", sched);
      json_object_set_object_member(o, "schedule_interval", si);
      json_object_set_string_member(o, "timetable_description", sched);
    } else {
      json_object_set_null_member(o, "schedule_interval");
      json_object_set_null_member(o, "timetable_description");
    }
    ph_timetable *tt = ph_timetable_new(args, NULL);
    ph_interval next;
    /* the next run is made when the interval open now ends */
    if (tt && !ph_timetable_is_manual(tt) &&
        ph_timetable_next(tt, (gint64)ph_util_now(), &next)) {
      g_autofree char *iso = ph_util_iso8601((double)next.start);
      json_object_set_string_member(o, "next_dagrun_create_after", iso);
    } else {
      json_object_set_null_member(o, "next_dagrun_create_after");
    }
    ph_timetable_free(tt);
    json_array_add_object_element(a, o);
  }
  g_dir_close(d);
  JsonNode *n = json_node_new(JSON_NODE_ARRAY);
  json_node_set_array(n, a);
  char *text = ph_util_json_write(n, PH_JSON_COMPACT);
  json_node_unref(n);
  g_mutex_lock(&w->lock);
  if (g_strcmp0(text, w->dir_json)) {
    g_free(w->dir_json);
    w->dir_json = text;
    text = NULL;
    w->dir_gen++;
  }
  g_mutex_unlock(&w->lock);
  g_free(text);
  ph_api_set_dir_dags(w->api, a);
  g_mutex_unlock(&w->graph_lock);
  return G_SOURCE_CONTINUE;
}

/* A graph request on its way through the graph thread. */
typedef struct {
  web *w;
  SoupServerMessage *msg; /* a reference, paused until the reply */
  char *dag, *run, *authorization;
  int status;
  char *body; /* SVG, or the reason as text */
  gsize len;
} graph_job;

/* On the main loop: a graph's reply goes out. */
static gboolean graph_reply(gpointer data) {
  graph_job *j = data;
  soup_server_message_set_status(j->msg, j->status, NULL);
  soup_server_message_set_response(
      j->msg, j->status == 200 ? "image/svg+xml" : "text/plain; charset=utf-8",
      SOUP_MEMORY_TAKE, j->body, j->len);
  soup_server_message_unpause(j->msg);
  g_object_unref(j->msg);
  g_free(j->dag);
  g_free(j->run);
  g_free(j->authorization);
  g_free(j);
  return G_SOURCE_REMOVE;
}

/* On the graph thread: GET /object/graph?dag_id=&run_id=, the run's graph
 * as SVG (the latest run's without run_id), laid out by Graphviz, tasks in
 * their states' colours.  Off the main loop: a large DAG's layout does not
 * hold the other requests up. */
static void graph_run(gpointer data, gpointer user) {
  graph_job *j = data;
  web *w = user;
  char *file = NULL, *why = NULL, *svg = NULL;
  gsize len = 0;
  JsonObject *states = NULL;
  g_mutex_lock(&w->graph_lock);
  j->status = 200;
  if (!ph_api_may_read(w->api, j->authorization)) {
    j->status = 401;
    why = g_strdup("reads need a bearer token");
  } else if (!j->dag ||
             !(states = ph_api_run_states(w->api, j->dag, j->run, &file))) {
    j->status = 404;
    why = g_strdup("no such DAG or run (dag_id, run_id)");
  } else if (!(svg = web_graph_svg(w->graph, file, states, &len, &why))) {
    j->status = 500;
  }
  g_mutex_unlock(&w->graph_lock);
  if (svg) {
    j->body = svg;
    j->len = len;
  } else {
    j->body = g_strdup(why);
    j->len = strlen(why);
  }
  if (states)
    json_object_unref(states);
  g_free(file);
  g_free(why);
  g_idle_add(graph_reply, j);
}

static void serve_graph(web *w, SoupServerMessage *msg, GHashTable *query,
                        const char *authorization) {
  graph_job *j = g_new0(graph_job, 1);
  j->w = w;
  j->msg = g_object_ref(msg);
  j->dag = g_strdup(query ? g_hash_table_lookup(query, "dag_id") : NULL);
  j->run = g_strdup(query ? g_hash_table_lookup(query, "run_id") : NULL);
  j->authorization = g_strdup(authorization);
  soup_server_message_pause(msg);
  g_thread_pool_push(w->graphs, j, NULL);
}

/* Serves the UI: "/" is index.html, /static/NAME a compiled-in asset. */
static gboolean serve_asset(web *w, SoupServerMessage *msg, const char *path) {
  const char *name = !strcmp(path, "/") ? "index.html"
                     : g_str_has_prefix(path, "/static/")
                         ? path + strlen("/static/")
                         : NULL;
  if (!name || strchr(name, '/'))
    return FALSE;
  g_autofree char *res = g_strconcat("/org/pipehost/web/", name, NULL);
  GBytes *data =
      g_resources_lookup_data(res, G_RESOURCE_LOOKUP_FLAGS_NONE, NULL);
  if (!data)
    return FALSE;
  const char *ctype = g_str_has_suffix(name, ".js")    ? "text/javascript"
                      : g_str_has_suffix(name, ".css") ? "text/css"
                                                       : "text/html; "
                                                         "charset=utf-8";
  SoupMessageHeaders *resp = soup_server_message_get_response_headers(msg);
  if (!strcmp(name, "index.html") && w->loopback) {
    /* the double-submit CSRF cookie: the UI's writes send it back as a
     * header, which no other site can read or set */
    g_autofree char *csrf = ph_api_csrf(w->api);
    g_autofree char *cookie =
        g_strdup_printf("ph_csrf=%s; Path=/; SameSite=Strict", csrf);
    soup_message_headers_append(resp, "Set-Cookie", cookie);
  }
  soup_server_message_set_status(msg, 200, NULL);
  gsize len = 0;
  const char *bytes = g_bytes_get_data(data, &len);
  soup_server_message_set_response(msg, ctype, SOUP_MEMORY_COPY, bytes, len);
  g_bytes_unref(data);
  return TRUE;
}

/* One API request on its way through the pool. */
typedef struct {
  web *w;
  SoupServerMessage *msg; /* a reference, paused until the reply */
  char *method, *path, *authorization, *accept, *cookie, *csrf, *body;
  gsize body_len;
  GHashTable *query; /* a reference, or NULL */
  ph_api_reply out;
  guint gen; /* the thread's dir_gen */
} job;

static void job_free(job *j) {
  g_object_unref(j->msg);
  if (j->query)
    g_hash_table_unref(j->query);
  g_free(j->method);
  g_free(j->path);
  g_free(j->authorization);
  g_free(j->accept);
  g_free(j->cookie);
  g_free(j->csrf);
  g_free(j->body);
  g_free(j->out.body);
  g_free(j);
}

/* On the main loop: the reply of a job goes out. */
static gboolean job_reply(gpointer data) {
  job *j = data;
  soup_server_message_set_status(j->msg, j->out.status, NULL);
  soup_server_message_set_response(j->msg, j->out.content_type,
                                   SOUP_MEMORY_TAKE, j->out.body, j->out.len);
  j->out.body = NULL;
  soup_server_message_unpause(j->msg);
  job_free(j);
  return G_SOURCE_REMOVE;
}

/* Hands j's reply to the main loop, at idle priority: the loop first
 * reads every request that is ready, then writes the replies in a batch
 * (at 50 connections the p99 was 2 to 5 times lower than at default
 * priority, measured with bench/webbench.py). */
static void reply_soon(job *j) {
  g_idle_add_full(G_PRIORITY_DEFAULT_IDLE, job_reply, j, NULL);
}

/* The calling pool thread's API, made at its first request. */
typedef struct {
  ph_store *st;
  ph_api *api;
  guint gen;
} thread_api;

static void thread_api_free(gpointer p) {
  thread_api *t = p;
  ph_api_free(t->api);
  ph_store_close(t->st);
  g_free(t);
}

/* On a pool thread: answers one request. */
static void job_run(gpointer data, gpointer user) {
  job *j = data;
  web *w = user;
  thread_api *t = g_private_get(w->mine);
  if (!t) {
    GError *err = NULL;
    ph_store *st = ph_store_open(w->home, &err);
    if (!st) {
      g_autofree char *d = g_strdup_printf("the store: %s", err->message);
      g_clear_error(&err);
      ph_api_problem(&j->out, 500, d);
      reply_soon(j);
      return;
    }
    t = g_new0(thread_api, 1);
    t->st = st;
    t->api = ph_api_new(st, w->token, w->reads_need_token, w->exe);
    t->gen = (guint)-1;
    g_private_set(w->mine, t);
    g_mutex_lock(&w->lock);
    g_ptr_array_add(w->apis, t);
    g_mutex_unlock(&w->lock);
  }
  g_mutex_lock(&w->lock);
  if (t->gen != w->dir_gen) {
    JsonNode *n = w->dir_json ? json_from_string(w->dir_json, NULL) : NULL;
    ph_api_set_dir_dags(t->api, n && JSON_NODE_HOLDS_ARRAY(n)
                                    ? json_array_ref(json_node_get_array(n))
                                    : NULL);
    if (n)
      json_node_unref(n);
    t->gen = w->dir_gen;
  }
  g_mutex_unlock(&w->lock);
  ph_api_request r = {j->method, j->path,   j->query, j->authorization,
                      j->accept, j->cookie, j->csrf,  j->body,
                      j->body_len};
  ph_api_handle(t->api, &r, &j->out);
  reply_soon(j);
}

static void on_request(SoupServer *server, SoupServerMessage *msg,
                       const char *path, GHashTable *query, gpointer user) {
  (void)server;
  web *w = user;
  SoupMessageHeaders *req = soup_server_message_get_request_headers(msg);
  SoupMessageHeaders *resp = soup_server_message_get_response_headers(msg);
  /* every page: no inline script, no other origin (values are never
   * HTML, and even if one were, it would not run) */
  soup_message_headers_replace(resp, "X-Content-Type-Options", "nosniff");
  soup_message_headers_replace(resp, "Cache-Control", "no-store");
  soup_message_headers_replace(resp, "X-Frame-Options", "DENY");
  soup_message_headers_replace(
      resp, "Content-Security-Policy",
      "default-src 'self'; script-src 'self'; style-src 'self'; "
      "img-src 'self' data:; frame-ancestors 'none'");
  const char *method = soup_server_message_get_method(msg);
  if (!strcmp(method, "GET") && serve_asset(w, msg, path))
    return;
  if (!strcmp(method, "GET") && !strcmp(path, "/object/graph")) {
    serve_graph(w, msg, query,
                soup_message_headers_get_one(req, "Authorization"));
    return;
  }
  SoupMessageBody *body = soup_server_message_get_request_body(msg);
  g_autoptr(GBytes) data = soup_message_body_flatten(body);
  gsize len = 0;
  const char *bytes = g_bytes_get_data(data, &len);
  job *j = g_new0(job, 1);
  j->w = w;
  j->msg = g_object_ref(msg);
  j->method = g_strdup(method);
  j->path = g_strdup(path);
  j->query = query ? g_hash_table_ref(query) : NULL;
  j->authorization =
      g_strdup(soup_message_headers_get_one(req, "Authorization"));
  j->accept = g_strdup(soup_message_headers_get_one(req, "Accept"));
  j->cookie = g_strdup(soup_message_headers_get_one(req, "Cookie"));
  j->csrf = g_strdup(soup_message_headers_get_one(req, "X-CSRF-Token"));
  j->body = g_strndup(bytes ? bytes : "", len);
  j->body_len = len;
  soup_server_message_pause(msg);
  g_thread_pool_push(w->pool, j, NULL);
}

/* Replies go out as soon as they are written: libsoup writes the headers
 * and the body separately, and with Nagle's algorithm on, the body waits
 * for the client's delayed ACK of the headers (40-200 ms on Linux). */
static void on_request_started(SoupServer *server, SoupServerMessage *msg,
                               gpointer user) {
  (void)server;
  (void)user;
  GSocket *sock = soup_server_message_get_socket(msg);
  if (sock && g_socket_get_family(sock) != G_SOCKET_FAMILY_UNIX)
    g_socket_set_option(sock, IPPROTO_TCP, TCP_NODELAY, 1, NULL);
}

static gboolean on_stop(gpointer loop) {
  g_main_loop_quit(loop);
  return G_SOURCE_REMOVE;
}

static gboolean is_loopback(const char *addr) {
  return !strcmp(addr, "127.0.0.1") || !strcmp(addr, "::1") ||
         !strcmp(addr, "localhost") || g_str_has_prefix(addr, "127.");
}

int main(int argc, char **argv) {
  char *bind = NULL, *dags_dir = NULL;
  int port = 8080;
  gboolean print_token = FALSE;
  GOptionEntry e[] = {
      {"bind", 'b', 0, G_OPTION_ARG_STRING, &bind,
       "The address to listen on (default 127.0.0.1; another one makes "
       "reads need the token too)",
       "ADDR"},
      {"port", 'p', 0, G_OPTION_ARG_INT, &port,
       "The port (default 8080; 0: any free one, printed)", "N"},
      {"dags-dir", 'D', 0, G_OPTION_ARG_FILENAME, &dags_dir,
       "Also list the DAGs of the files in DIR (schedule, next run), runs "
       "or not",
       "DIR"},
      {"print-token", 0, 0, G_OPTION_ARG_NONE, &print_token,
       "Print the bearer token (made at first start) and exit", NULL},
      {0}};
  g_set_prgname("pipehost webserver");
  GOptionContext *ctx = g_option_context_new(
      "- serve the UI and the REST API (/api/v1) over the metadata store");
  g_option_context_add_main_entries(ctx, e, NULL);
  GError *err = NULL;
  int rc = 2;
  ph_store *st = NULL;
  ph_api *api = NULL;
  SoupServer *srv = NULL;
  GMainLoop *loop = NULL;
  static GPrivate mine = G_PRIVATE_INIT(NULL);
  web w = {.mine = &mine,
           .apis = g_ptr_array_new_with_free_func(thread_api_free)};
  g_mutex_init(&w.lock);
  g_mutex_init(&w.graph_lock);
  char *token = NULL, *why = NULL, *home = ph_store_default_home();
  char *exe = NULL, *dir = NULL, *ph = NULL, *builtin = NULL, *lua = NULL;
  if (!g_option_context_parse(ctx, &argc, &argv, &err) || argc > 1) {
    fprintf(stderr, "pipehost webserver: %s (see pipehost webserver --help)\n",
            err ? err->message : "unexpected argument");
    goto out;
  }
  if (port < 0 || port > 65535) {
    fprintf(stderr, "pipehost webserver: --port must be 0 to 65535\n");
    goto out;
  }
  token = load_token(home, &why);
  if (!token) {
    fprintf(stderr, "pipehost webserver: %s\n", why);
    goto out;
  }
  if (print_token) {
    printf("%s\n", token);
    rc = 0;
    goto out;
  }
  st = ph_store_open(home, &err);
  if (!st) {
    fprintf(stderr, "pipehost webserver: %s\n", err->message);
    goto out;
  }
  const char *addr = bind ? bind : "127.0.0.1";
  /* a triggered run is `pipehost run`, the pipehost next to this program */
  exe = g_file_read_link("/proc/self/exe", NULL);
  dir = exe ? g_path_get_dirname(exe) : g_strdup(".");
  ph = g_build_filename(dir, "pipehost", NULL);
  api = ph_api_new(st, token, !is_loopback(addr), ph);
  /* the plugins and the Lua DSL, where an installed pipehost keeps them */
  builtin = g_build_filename(dir, "..", "lib", "pipehost", "plugins", NULL);
  lua = g_build_filename(dir, "..", "share", "pipehost", "lua", NULL);
  const char *lua_env = g_getenv("PIPEHOST_LUA_DIR");
  w.api = api;
  w.loopback = is_loopback(addr);
  w.graph = web_graph_new(builtin, lua_env && *lua_env ? lua_env : lua);
  w.dags_dir = dags_dir;
  w.home = home;
  w.token = token;
  w.exe = ph;
  w.reads_need_token = !is_loopback(addr);
  /* as many threads as cores, at least two, at most eight */
  w.pool = g_thread_pool_new(job_run, &w,
                             (gint)CLAMP(g_get_num_processors(), 2, 8), FALSE,
                             NULL);
  w.graphs = g_thread_pool_new(graph_run, &w, 1, FALSE, NULL);
  if (dags_dir) {
    refresh_dags(&w);
    g_timeout_add_seconds(5, refresh_dags, &w);
  }
  srv = soup_server_new("server-header", "pipehost/" PH_VERSION " ", NULL);
  soup_server_add_handler(srv, NULL, on_request, &w, NULL);
  g_signal_connect(srv, "request-started", G_CALLBACK(on_request_started),
                   NULL);
  GSocketAddress *sa = g_inet_socket_address_new_from_string(
      !strcmp(addr, "localhost") ? "127.0.0.1" : addr, (guint)port);
  if (!sa) {
    fprintf(stderr, "pipehost webserver: --bind %s is not an IP address\n",
            addr);
    goto out;
  }
  gboolean ok = soup_server_listen(srv, sa, 0, &err);
  g_object_unref(sa);
  if (!ok) {
    fprintf(stderr, "pipehost webserver: cannot listen on %s:%d: %s\n", addr,
            port, err->message);
    goto out;
  }
  GSList *uris = soup_server_get_uris(srv);
  if (uris) {
    g_autofree char *u = g_uri_to_string(uris->data);
    printf("pipehost webserver: listening on %s (the UI; the API: %sapi/v1; "
           "%s)\n",
           u, u,
           is_loopback(addr) ? "writes need the token"
                             : "reads and writes need the token");
    fflush(stdout);
  }
  g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
  loop = g_main_loop_new(NULL, FALSE);
  g_unix_signal_add(SIGTERM, on_stop, loop);
  g_unix_signal_add(SIGINT, on_stop, loop);
  g_main_loop_run(loop);
  rc = 0;
out:
  /* the requests in flight are answered, then the threads' stores close */
  if (w.pool)
    g_thread_pool_free(w.pool, FALSE, TRUE);
  if (w.graphs)
    g_thread_pool_free(w.graphs, FALSE, TRUE);
  while (g_main_context_iteration(NULL, FALSE))
    ;
  g_ptr_array_unref(w.apis);
  g_mutex_clear(&w.lock);
  g_mutex_clear(&w.graph_lock);
  g_free(w.dir_json);
  if (w.graph)
    web_graph_free(w.graph);
  if (srv) {
    soup_server_disconnect(srv);
    g_object_unref(srv);
  }
  if (loop)
    g_main_loop_unref(loop);
  ph_api_free(api);
  ph_store_close(st);
  g_clear_error(&err);
  g_free(token);
  g_free(why);
  g_free(home);
  g_free(bind);
  g_free(dags_dir);
  g_free(exe);
  g_free(dir);
  g_free(ph);
  g_free(builtin);
  g_free(lua);
  g_option_context_free(ctx);
  return rc;
}
