/* http -- the http and http_sensor operators (libcurl).
 *
 * A request goes to `url`, or to `endpoint` joined to the base URL of a
 * connection (conn_id: http(s)://user:pass@host:port/base, its login and
 * password as basic auth unless `auth` says otherwise; extra.headers are
 * sent on every request).  TLS is verified unless verify: false.
 * response_check and response_filter are Lua expressions over `response`
 * ({status, text, json, headers}) evaluated in a sandbox (no io, os, load,
 * require).  Transport errors, 5xx and 429 are retryable; other statuses
 * that the check refuses fail at once.  The sensor pokes until the request
 * succeeds and its check passes.
 *
 * This is the implementation library (impl/http.so); http_ops.c holds the
 * descriptors the host scans (plugins/common/lazy.h).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../common/putil.h"
#include "pipehost/plugin.h"

typedef struct {
  const ph_host *h;
  ph_task *t;
  volatile int killed;
} http_state;

typedef struct {
  long status;
  GString *body;
  GHashTable *headers; /* lower-case name -> value */
  gsize limit;
  gboolean too_big;
  double retry_after;
} response;

static ph_status http_init(const ph_host *h, ph_task *t, void **out) {
  if (!pu_curl_ready()) {
    h->set_reason(t, "curl_global_init failed");
    return PH_ERROR;
  }
  http_state *s = g_new0(http_state, 1);
  s->h = h;
  *out = s;
  return PH_OK;
}

static void http_destroy(void *s) { g_free(s); }
static void http_kill(void *s) { ((http_state *)s)->killed = 1; }

/* ---- Lua: response_check / response_filter */

static void push_json(lua_State *L, JsonNode *n, int depth) {
  if (!n || JSON_NODE_HOLDS_NULL(n) || depth > 64) {
    lua_pushnil(L);
  } else if (JSON_NODE_HOLDS_OBJECT(n)) {
    JsonObject *o = json_node_get_object(n);
    lua_createtable(L, 0, (int)json_object_get_size(o));
    GList *ms = json_object_get_members(o);
    for (GList *l = ms; l; l = l->next) {
      push_json(L, json_object_get_member(o, l->data), depth + 1);
      lua_setfield(L, -2, l->data);
    }
    g_list_free(ms);
  } else if (JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    lua_createtable(L, (int)json_array_get_length(a), 0);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      push_json(L, json_array_get_element(a, i), depth + 1);
      lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
  } else {
    GType ty = json_node_get_value_type(n);
    if (ty == G_TYPE_BOOLEAN)
      lua_pushboolean(L, json_node_get_boolean(n));
    else if (ty == G_TYPE_INT64)
      lua_pushinteger(L, json_node_get_int(n));
    else if (ty == G_TYPE_DOUBLE)
      lua_pushnumber(L, json_node_get_double(n));
    else
      lua_pushstring(L, json_node_get_string(n));
  }
}

static void put_str(GString *out, const char *s, size_t len) {
  g_string_append_c(out, '"');
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      g_string_append_printf(out, "\\%c", c);
    else if (c == '\n')
      g_string_append(out, "\\n");
    else if (c < 0x20)
      g_string_append_printf(out, "\\u%04x", c);
    else
      g_string_append_c(out, (char)c);
  }
  g_string_append_c(out, '"');
}

/* A Lua value as JSON (tables with keys 1..n are arrays). */
static void lua_json(lua_State *L, int idx, GString *out, int depth) {
  idx = lua_absindex(L, idx);
  int ty = lua_type(L, idx);
  if (ty == LUA_TNIL || depth > 64) {
    g_string_append(out, "null");
  } else if (ty == LUA_TBOOLEAN) {
    g_string_append(out, lua_toboolean(L, idx) ? "true" : "false");
  } else if (ty == LUA_TNUMBER) {
    if (lua_isinteger(L, idx)) {
      g_string_append_printf(out, "%lld", (long long)lua_tointeger(L, idx));
    } else {
      double d = lua_tonumber(L, idx);
      if (!isfinite(d)) {
        g_string_append(out, "null");
        return;
      }
      char *txt = pu_double_text(d);
      g_string_append(out, txt);
      g_free(txt);
    }
  } else if (ty == LUA_TTABLE) {
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
      lua_pop(L, 1);
      count++;
    }
    if (n > 0 && count == n) {
      g_string_append_c(out, '[');
      for (lua_Integer i = 1; i <= n; i++) {
        if (i > 1)
          g_string_append_c(out, ',');
        lua_rawgeti(L, idx, i);
        lua_json(L, -1, out, depth + 1);
        lua_pop(L, 1);
      }
      g_string_append_c(out, ']');
    } else {
      g_string_append_c(out, '{');
      gboolean first = TRUE;
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        lua_pushvalue(L, -2);
        size_t kl;
        const char *k = lua_tolstring(L, -1, &kl);
        if (!first)
          g_string_append_c(out, ',');
        first = FALSE;
        put_str(out, k, kl);
        g_string_append_c(out, ':');
        lua_pop(L, 1);
        lua_json(L, -1, out, depth + 1);
        lua_pop(L, 1);
      }
      g_string_append_c(out, '}');
    }
  } else {
    size_t len;
    const char *str = luaL_tolstring(L, idx, &len);
    put_str(out, str, len);
    lua_pop(L, 1);
  }
}

static void count_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  luaL_error(L, "the expression ran too long");
}

/* Evaluates expr with `response` set; on success leaves the value's JSON
 * text in *json (caller frees) and its truth in *truthy. */
static gboolean eval(const char *what, const char *expr, const response *r,
                     char **json, gboolean *truthy, char **err) {
  lua_State *L = luaL_newstate();
  gboolean ok = FALSE;
  luaL_requiref(L, "_G", luaopen_base, 1);
  luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
  luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
  luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
  lua_pop(L, 4);
  static const char *const unsafe[] = {"dofile", "loadfile", "load",
                                       "require", "collectgarbage", NULL};
  for (const char *const *u = unsafe; *u; u++) {
    lua_pushnil(L);
    lua_setglobal(L, *u);
  }
  lua_createtable(L, 0, 4);
  lua_pushinteger(L, r->status);
  lua_setfield(L, -2, "status");
  lua_pushlstring(L, r->body->str, r->body->len);
  lua_setfield(L, -2, "text");
  JsonNode *j = json_from_string(r->body->str, NULL);
  push_json(L, j, 0);
  lua_setfield(L, -2, "json");
  if (j)
    json_node_unref(j);
  lua_createtable(L, 0, 8);
  GHashTableIter it;
  gpointer k, v;
  g_hash_table_iter_init(&it, r->headers);
  while (g_hash_table_iter_next(&it, &k, &v)) {
    lua_pushstring(L, v);
    lua_setfield(L, -2, k);
  }
  lua_setfield(L, -2, "headers");
  lua_setglobal(L, "response");
  g_autofree char *src = g_strconcat("return ", expr, NULL);
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 10000000);
  if (luaL_loadbufferx(L, src, strlen(src), what, "t") != LUA_OK ||
      lua_pcall(L, 0, 1, 0) != LUA_OK) {
    *err = g_strdup_printf("%s: %s", what, lua_tostring(L, -1));
    goto out;
  }
  *truthy = lua_toboolean(L, -1);
  GString *s = g_string_new(NULL);
  lua_json(L, -1, s, 0);
  *json = g_string_free(s, FALSE);
  ok = TRUE;
out:
  lua_close(L);
  return ok;
}

/* ---- the request */

static size_t on_body(char *p, size_t sz, size_t n, void *u) {
  response *r = u;
  if (r->body->len + sz * n > r->limit) {
    r->too_big = TRUE;
    return 0;
  }
  g_string_append_len(r->body, p, sz * n);
  return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *u) {
  response *r = u;
  size_t len = sz * n;
  const char *colon = memchr(p, ':', len);
  if (colon) {
    char *name = g_ascii_strdown(p, colon - p);
    char *value = g_strstrip(g_strndup(colon + 1, len - (colon + 1 - p)));
    g_hash_table_replace(r->headers, name, value);
  } else if (len > 5 && !strncmp(p, "HTTP/", 5)) {
    g_hash_table_remove_all(r->headers); /* a new response (redirect) */
  }
  return len;
}

static int on_progress(void *u, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d) {
  http_state *s = u;
  return s->killed || s->h->is_cancelled(s->t);
}

/* Builds and performs the request of task t.  Returns PH_OK with r filled
 * (any HTTP status), PH_ERROR for a transport error (retryable) or PH_FAIL
 * for bad params; *why says what went wrong. */
static ph_status perform(http_state *s, ph_task *t, response *r, char **why) {
  const ph_host *h = s->h;
  const char *method = "GET", *url = NULL, *endpoint = NULL, *conn_id = NULL,
             *data = NULL, *ca = NULL;
  double timeout = 30;
  int32_t verify = 1;
  int64_t limit = 10 << 20;
  ph_status st = PH_FAIL;
  char *full = NULL, *body = NULL, *user = NULL, *pass = NULL;
  JsonNode *conn = NULL, *headers = NULL, *jbody = NULL, *auth = NULL;
  struct curl_slist *hl = NULL;
  CURL *c = NULL;
  h->param_string(t, "method", &method);
  h->param_string(t, "url", &url);
  h->param_string(t, "endpoint", &endpoint);
  h->param_string(t, "conn_id", &conn_id);
  h->param_string(t, "data", &data);
  h->param_string(t, "ca_bundle", &ca);
  h->param_double(t, "request_timeout", &timeout);
  h->param_bool(t, "verify", &verify);
  h->param_int(t, "max_response_bytes", &limit);
  r->limit = (gsize)limit;
  if (conn_id) {
    const char *cj = NULL;
    if (h->connection_get(t, conn_id, &cj) != PH_OK) {
      *why = g_strdup_printf("connection '%s' is not defined", conn_id);
      goto out;
    }
    conn = json_from_string(cj, NULL);
    JsonObject *o = json_node_get_object(conn);
    const char *type =
        json_object_get_string_member_with_default(o, "conn_type", "http");
    const char *host = json_object_get_string_member_with_default(o, "host", "");
    const char *schema =
        json_object_get_string_member_with_default(o, "schema", "");
    gint64 port = json_object_get_int_member_with_default(o, "port", 0);
    g_autofree char *ports =
        port ? g_strdup_printf(":%" G_GINT64_FORMAT, port) : g_strdup("");
    const char *ep = endpoint ? endpoint : url ? url : "";
    while (*ep == '/')
      ep++;
    full = g_strdup_printf("%s://%s%s/%s%s%s", type, host, ports, schema,
                           *schema && *ep ? "/" : "", ep);
    const char *login =
        json_object_get_string_member_with_default(o, "login", NULL);
    const char *password =
        json_object_get_string_member_with_default(o, "password", NULL);
    if (login && *login) {
      user = g_strdup(login);
      pass = g_strdup(password ? password : "");
    }
    JsonObject *extra = json_object_has_member(o, "extra") &&
                                JSON_NODE_HOLDS_OBJECT(
                                    json_object_get_member(o, "extra"))
                            ? json_object_get_object_member(o, "extra")
                            : NULL;
    JsonObject *eh = extra && json_object_has_member(extra, "headers") &&
                             JSON_NODE_HOLDS_OBJECT(
                                 json_object_get_member(extra, "headers"))
                         ? json_object_get_object_member(extra, "headers")
                         : NULL;
    GList *ks = eh ? json_object_get_members(eh) : NULL;
    for (GList *l = ks; l; l = l->next) {
      g_autofree char *line = g_strdup_printf(
          "%s: %s", (char *)l->data,
          json_object_get_string_member_with_default(eh, l->data, ""));
      hl = curl_slist_append(hl, line);
    }
    g_list_free(ks);
  } else if (url) {
    full = g_strdup(url);
  } else {
    *why = g_strdup("set url, or conn_id and endpoint");
    goto out;
  }
  headers = pu_param_node(h, t, "headers");
  if (headers && JSON_NODE_HOLDS_OBJECT(headers)) {
    JsonObject *ho = json_node_get_object(headers);
    GList *ks = json_object_get_members(ho);
    for (GList *l = ks; l; l = l->next) {
      JsonNode *v = json_object_get_member(ho, l->data);
      g_autofree char *vt =
          JSON_NODE_HOLDS_VALUE(v) && json_node_get_value_type(v) == G_TYPE_STRING
              ? g_strdup(json_node_get_string(v))
              : pu_json_text(v);
      g_autofree char *line = g_strdup_printf("%s: %s", (char *)l->data, vt);
      hl = curl_slist_append(hl, line);
    }
    g_list_free(ks);
  }
  auth = pu_param_node(h, t, "auth");
  if (auth && JSON_NODE_HOLDS_OBJECT(auth)) {
    JsonObject *ao = json_node_get_object(auth);
    const char *type =
        json_object_get_string_member_with_default(ao, "type", "basic");
    if (!strcmp(type, "bearer")) {
      const char *token =
          json_object_get_string_member_with_default(ao, "token", pass);
      if (!token) {
        *why = g_strdup("auth bearer needs a token (or a connection password)");
        goto out;
      }
      h->mask(t, token);
      g_autofree char *line = g_strdup_printf("Authorization: Bearer %s", token);
      hl = curl_slist_append(hl, line);
      g_clear_pointer(&user, g_free);
    } else if (!strcmp(type, "basic")) {
      const char *u =
          json_object_get_string_member_with_default(ao, "username", NULL);
      const char *p =
          json_object_get_string_member_with_default(ao, "password", NULL);
      if (u) {
        g_free(user);
        g_free(pass);
        user = g_strdup(u);
        pass = g_strdup(p ? p : "");
        if (p)
          h->mask(t, p);
      }
    } else if (!strcmp(type, "none")) {
      g_clear_pointer(&user, g_free);
    } else {
      *why = g_strdup_printf("auth type '%s': use basic, bearer or none", type);
      goto out;
    }
  }
  jbody = pu_param_node(h, t, "json");
  if (jbody) {
    body = pu_json_text(jbody);
    hl = curl_slist_append(hl, "Content-Type: application/json");
  } else if (data) {
    body = g_strdup(data);
  }
  c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, full);
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
  if (!g_ascii_strcasecmp(method, "HEAD"))
    curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
  if (body)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
  if (user) {
    curl_easy_setopt(c, CURLOPT_USERNAME, user);
    curl_easy_setopt(c, CURLOPT_PASSWORD, pass);
  }
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  if (ca)
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "pipehost-http/1.0");
  if (!verify)
    h->log(t, PH_LOG_WARNING, "TLS verification is off (verify: false)");
  h->log(t, PH_LOG_INFO, "%s %s", method, full);
  CURLcode cc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  if (cc == CURLE_ABORTED_BY_CALLBACK) {
    *why = g_strdup("cancelled");
    st = PH_CANCELLED;
  } else if (r->too_big) {
    *why = g_strdup_printf("the response is over max_response_bytes (%"
                           G_GINT64_FORMAT ")",
                           (gint64)limit);
    st = PH_FAIL;
  } else if (cc != CURLE_OK) {
    *why = g_strdup_printf("%s %s: %s", method, full, curl_easy_strerror(cc));
    /* a certificate problem will not go away by retrying */
    st = cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
                 cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL
             ? PH_FAIL
             : PH_ERROR;
  } else {
    const char *ra = g_hash_table_lookup(r->headers, "retry-after");
    r->retry_after = ra ? g_ascii_strtod(ra, NULL) : 0;
    h->log(t, PH_LOG_INFO, "HTTP %ld, %zu bytes", r->status, r->body->len);
    st = PH_OK;
  }
out:
  if (c)
    curl_easy_cleanup(c);
  curl_slist_free_all(hl);
  g_free(full);
  g_free(body);
  g_free(user);
  g_free(pass);
  if (conn)
    json_node_unref(conn);
  if (headers)
    json_node_unref(headers);
  if (jbody)
    json_node_unref(jbody);
  if (auth)
    json_node_unref(auth);
  return st;
}

/* TRUE when the status is accepted: status_codes, or 2xx. */
static gboolean status_ok(const ph_host *h, ph_task *t, long status) {
  JsonNode *codes = pu_param_node(h, t, "status_codes");
  gboolean ok = status >= 200 && status < 300;
  if (codes && JSON_NODE_HOLDS_ARRAY(codes)) {
    JsonArray *a = json_node_get_array(codes);
    ok = FALSE;
    for (guint i = 0; i < json_array_get_length(a); i++)
      ok |= json_array_get_int_element(a, i) == status;
  }
  if (codes)
    json_node_unref(codes);
  return ok;
}

static response response_new(void) {
  response r = {0, g_string_new(NULL),
                g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free),
                0, FALSE, 0};
  return r;
}

static void response_free(response *r) {
  g_string_free(r->body, TRUE);
  g_hash_table_unref(r->headers);
}

/* Shared by both operators: the request, the status rule and the check.
 * *passed tells the sensor whether to stop. */
static ph_status request(http_state *s, ph_task *t, gboolean sensor,
                         gboolean *passed) {
  const ph_host *h = s->h;
  s->t = t;
  response r = response_new();
  char *why = NULL, *value = NULL;
  const char *check = NULL, *filter = NULL;
  int32_t log_resp = 0;
  gboolean truthy = TRUE;
  *passed = FALSE;
  h->param_string(t, "response_check", &check);
  h->param_string(t, "response_filter", &filter);
  h->param_bool(t, "log_response", &log_resp);
  ph_status st = perform(s, t, &r, &why);
  if (st != PH_OK) {
    if (sensor && st == PH_ERROR) {
      h->log(t, PH_LOG_WARNING, "not yet: %s", why);
      st = PH_OK;
    } else {
      h->set_reason(t, "%s", why);
    }
    goto out;
  }
  if (log_resp)
    h->log(t, PH_LOG_INFO, "response: %.*s", (int)MIN(r.body->len, 4000),
           r.body->str);
  if (!status_ok(h, t, r.status)) {
    gboolean retry = r.status >= 500 || r.status == 429;
    g_autofree char *snip = g_strndup(r.body->str, MIN(r.body->len, 300));
    if (sensor && (retry || r.status == 404)) {
      h->log(t, PH_LOG_INFO, "not yet: HTTP %ld", r.status);
      st = PH_OK;
      goto out;
    }
    if (r.status == 429)
      h->log(t, PH_LOG_WARNING, "HTTP 429: Retry-After %g s", r.retry_after);
    h->set_reason(t, "HTTP %ld%s: %s", r.status,
                  retry ? " (retryable)" : "", snip);
    st = retry ? PH_ERROR : PH_FAIL;
    goto out;
  }
  if (check) {
    char *err = NULL, *tmp = NULL;
    if (!eval("response_check", check, &r, &tmp, &truthy, &err)) {
      h->set_reason(t, "%s", err);
      g_free(err);
      st = PH_FAIL;
      goto out;
    }
    g_free(tmp);
    if (!truthy) {
      if (sensor) {
        h->log(t, PH_LOG_INFO, "not yet: response_check is false");
        goto out;
      }
      h->set_reason(t, "response_check is false for HTTP %ld: %.200s",
                    r.status, r.body->str);
      st = PH_FAIL;
      goto out;
    }
  }
  /* the XCom: the filter's value, else the JSON body, else the text */
  if (filter) {
    char *err = NULL;
    gboolean dummy;
    if (!eval("response_filter", filter, &r, &value, &dummy, &err)) {
      h->set_reason(t, "%s", err);
      g_free(err);
      st = PH_FAIL;
      goto out;
    }
  } else {
    JsonNode *j = json_from_string(r.body->str, NULL);
    if (j) {
      value = pu_json_text(j);
      json_node_unref(j);
    } else {
      JsonNode *sn = json_node_init_string(json_node_alloc(), r.body->str);
      value = pu_json_text(sn);
      json_node_unref(sn);
    }
  }
  st = h->xcom_push(t, NULL, value);
  *passed = st == PH_OK;
out:
  g_free(why);
  g_free(value);
  response_free(&r);
  return st;
}

static ph_status http_execute(void *sv, ph_task *t) {
  gboolean passed;
  return request(sv, t, FALSE, &passed);
}

static ph_status http_poke(void *sv, ph_task *t, int32_t *done) {
  gboolean passed;
  ph_status st = request(sv, t, TRUE, &passed);
  *done = passed;
  return st;
}

/* ---- the implementation table (plugins/common/lazy.h) */

static const ph_operator impl_ops[] = {
    {PH_OPERATOR_INIT, .type = "http", .init = http_init,
     .execute = http_execute, .on_kill = http_kill, .destroy = http_destroy},
    {PH_OPERATOR_INIT, .type = "http_sensor", .init = http_init,
     .poke = http_poke, .on_kill = http_kill, .destroy = http_destroy},
};

PH_EXPORT const ph_operator *pipehost_impl_operator(const char *type) {
  for (size_t i = 0; i < G_N_ELEMENTS(impl_ops); i++)
    if (!strcmp(impl_ops[i].type, type))
      return &impl_ops[i];
  return NULL;
}
