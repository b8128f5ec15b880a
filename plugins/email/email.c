/* email -- the email operator: a MIME message sent over SMTP with libcurl.
 *
 * The connection (conn_id, default smtp_default) is smtp://user:pass@host:
 * port (STARTTLS when the server offers it; extra.starttls: true requires
 * it) or smtps://... (TLS from the start); extra.from is the default
 * sender, extra.ca_bundle / extra.verify tune certificate checks (verified by
 * default).  The message: text `body` and/or `html` (both: multipart/
 * alternative), `files` as base64 attachments (multipart/mixed), UTF-8
 * with an RFC 2047 encoded subject, Date and Message-ID headers; `bcc`
 * recipients get the message but appear in no header.  SMTP 4xx replies and
 * connection errors are retryable, 5xx fail at once.
 *
 * This is the implementation library (impl/email.so); email_ops.c holds
 * the descriptor the host scans (plugins/common/lazy.h).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <glib.h>
#include <json-glib/json-glib.h>

#include "../common/putil.h"
#include "pipehost/plugin.h"

typedef struct {
  const ph_host *h;
  ph_task *t;
  volatile int killed;
} mail_state;

static ph_status mail_init(const ph_host *h, ph_task *t, void **out) {
  if (!pu_curl_ready()) {
    h->set_reason(t, "curl_global_init failed");
    return PH_ERROR;
  }
  mail_state *s = g_new0(mail_state, 1);
  s->h = h;
  *out = s;
  return PH_OK;
}

static void mail_destroy(void *s) { g_free(s); }
static void mail_kill(void *s) { ((mail_state *)s)->killed = 1; }

static int on_progress(void *u, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d) {
  mail_state *s = u;
  return s->killed || s->h->is_cancelled(s->t);
}

/* A param that is a string or a list of strings, as a NULL-terminated
 * vector (caller frees); an empty vector when absent. */
static char **addresses(const ph_host *h, ph_task *t, const char *name) {
  GPtrArray *v = g_ptr_array_new();
  const char *txt = h->param_json(t, name);
  JsonNode *n = txt ? json_from_string(txt, NULL) : NULL;
  if (n && JSON_NODE_HOLDS_ARRAY(n)) {
    JsonArray *a = json_node_get_array(n);
    for (guint i = 0; i < json_array_get_length(a); i++) {
      const char *x = json_array_get_string_element(a, i);
      if (x && *x)
        g_ptr_array_add(v, g_strstrip(g_strdup(x)));
    }
  } else if (n && JSON_NODE_HOLDS_VALUE(n) &&
             json_node_get_value_type(n) == G_TYPE_STRING) {
    /* "a@x, b@y" */
    gchar **parts = g_strsplit_set(json_node_get_string(n), ",;", -1);
    for (gchar **p = parts; *p; p++) {
      g_strstrip(*p);
      if (**p)
        g_ptr_array_add(v, g_strdup(*p));
    }
    g_strfreev(parts);
  }
  if (n)
    json_node_unref(n);
  g_ptr_array_add(v, NULL);
  return (char **)g_ptr_array_free(v, FALSE);
}

/* The bare address of "Name <a@x>" or "a@x", in angle brackets. */
static char *envelope(const char *addr) {
  const char *lt = strrchr(addr, '<');
  if (lt) {
    const char *gt = strchr(lt, '>');
    return g_strndup(lt, gt ? gt - lt + 1 : (long)strlen(lt));
  }
  return g_strdup_printf("<%s>", addr);
}

/* RFC 2047 "encoded-word" for a header value with non-ASCII bytes. */
static char *header_text(const char *v) {
  for (const unsigned char *p = (const unsigned char *)v; *p; p++)
    if (*p >= 0x80 || *p < 0x20) {
      g_autofree char *b64 = g_base64_encode((const guchar *)v, strlen(v));
      return g_strdup_printf("=?UTF-8?B?%s?=", b64);
    }
  return g_strdup(v);
}

static const char *mime_type(const char *path) {
  static const char *const map[][2] = {
      {".txt", "text/plain"},      {".csv", "text/csv"},
      {".html", "text/html"},      {".json", "application/json"},
      {".pdf", "application/pdf"}, {".png", "image/png"},
      {".jpg", "image/jpeg"},      {".jpeg", "image/jpeg"},
      {".gz", "application/gzip"}, {".zip", "application/zip"},
      {".md", "text/markdown"},    {".log", "text/plain"}};
  for (gsize i = 0; i < G_N_ELEMENTS(map); i++)
    if (g_str_has_suffix(path, map[i][0]))
      return map[i][1];
  return "application/octet-stream";
}

/* A boolean extra: true/false, or the text "true", "1", "yes" (extras
 * from a URI's query are text). */
static gboolean extra_bool(JsonObject *extra, const char *key, gboolean dflt) {
  JsonNode *n = extra ? json_object_get_member(extra, key) : NULL;
  if (!n || !JSON_NODE_HOLDS_VALUE(n))
    return dflt;
  if (json_node_get_value_type(n) == G_TYPE_BOOLEAN)
    return json_node_get_boolean(n);
  if (json_node_get_value_type(n) == G_TYPE_STRING) {
    const char *v = json_node_get_string(n);
    return !g_ascii_strcasecmp(v, "true") || !strcmp(v, "1") ||
           !g_ascii_strcasecmp(v, "yes");
  }
  return dflt;
}

static ph_status mail_execute(void *sv, ph_task *t) {
  mail_state *s = sv;
  const ph_host *h = s->h;
  s->t = t;
  ph_status st = PH_FAIL;
  const char *conn_id = "smtp_default", *cj = NULL, *from = NULL,
             *subject = "", *body = NULL, *html = NULL;
  char **to = addresses(h, t, "to"), **cc = addresses(h, t, "cc"),
       **bcc = addresses(h, t, "bcc"), **files = addresses(h, t, "files");
  JsonNode *conn = NULL;
  CURL *c = NULL;
  curl_mime *mime = NULL;
  struct curl_slist *hdr = NULL, *rcpt = NULL;
  char *url = NULL, *from_env = NULL, *msgid = NULL, *from_h = NULL,
       *subj = NULL, *subj_h = NULL, *uuid = NULL;
  h->param_string(t, "conn_id", &conn_id);
  h->param_string(t, "from", &from);
  h->param_string(t, "subject", &subject);
  h->param_string(t, "body", &body);
  h->param_string(t, "html", &html);
  if (!to[0] && !cc[0] && !bcc[0]) {
    h->set_reason(t, "no recipients: set to, cc or bcc");
    goto out;
  }
  if (h->connection_get(t, conn_id, &cj) != PH_OK) {
    g_autofree char *up = g_ascii_strup(conn_id ? conn_id : "", -1);
    h->set_reason(t, "connection '%s' is not defined (e.g. "
                     "PIPEHOST_CONN_%s=smtp://user:pass@host:587)",
                  conn_id, up);
    goto out;
  }
  conn = json_from_string(cj, NULL);
  JsonObject *co = json_node_get_object(conn);
  const char *type =
      json_object_get_string_member_with_default(co, "conn_type", "smtp");
  if (strcmp(type, "smtp") && strcmp(type, "smtps")) {
    h->set_reason(t, "connection '%s' is of type '%s', not smtp or smtps",
                  conn_id, type);
    goto out;
  }
  JsonObject *extra = json_object_has_member(co, "extra") &&
                              JSON_NODE_HOLDS_OBJECT(
                                  json_object_get_member(co, "extra"))
                          ? json_object_get_object_member(co, "extra")
                          : NULL;
  const char *login = json_object_get_string_member_with_default(co, "login", NULL);
  const char *password =
      json_object_get_string_member_with_default(co, "password", NULL);
  if (!from && extra)
    from = json_object_get_string_member_with_default(extra, "from", NULL);
  if (!from)
    from = login && strchr(login, '@') ? login : "pipehost@localhost";
  gint64 port = json_object_get_int_member_with_default(
      co, "port", !strcmp(type, "smtps") ? 465 : 25);
  url = g_strdup_printf(
      "%s://%s:%" G_GINT64_FORMAT, type,
      json_object_get_string_member_with_default(co, "host", "localhost"),
      port);
  c = curl_easy_init();
  curl_easy_setopt(c, CURLOPT_URL, url);
  from_env = envelope(from);
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, from_env);
  char **lists[] = {to, cc, bcc};
  int n_rcpt = 0;
  for (int l = 0; l < 3; l++)
    for (char **a = lists[l]; *a; a++) {
      g_autofree char *e = envelope(*a);
      rcpt = curl_slist_append(rcpt, e);
      n_rcpt++;
    }
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  if (login && *login) {
    curl_easy_setopt(c, CURLOPT_USERNAME, login);
    curl_easy_setopt(c, CURLOPT_PASSWORD, password ? password : "");
  }
  gboolean starttls = extra_bool(extra, "starttls", FALSE);
  curl_easy_setopt(c, CURLOPT_USE_SSL,
                   starttls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY);
  gboolean verify = extra_bool(extra, "verify", TRUE);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, verify ? 1L : 0L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L);
  const char *ca =
      extra ? json_object_get_string_member_with_default(extra, "ca_bundle", NULL)
            : NULL;
  if (ca)
    curl_easy_setopt(c, CURLOPT_CAINFO, ca);
  /* headers */
  char date[64];
  time_t now = time(NULL);
  struct tm tmv;
  strftime(date, sizeof date, "Date: %a, %d %b %Y %H:%M:%S +0000",
           gmtime_r(&now, &tmv));
  hdr = curl_slist_append(hdr, date);
  from_h = g_strdup_printf("From: %s", from);
  hdr = curl_slist_append(hdr, from_h);
  if (to[0]) {
    g_autofree char *j = g_strjoinv(", ", to);
    g_autofree char *line = g_strdup_printf("To: %s", j);
    hdr = curl_slist_append(hdr, line);
  }
  if (cc[0]) {
    g_autofree char *j = g_strjoinv(", ", cc);
    g_autofree char *line = g_strdup_printf("Cc: %s", j);
    hdr = curl_slist_append(hdr, line);
  }
  subj = header_text(subject);
  subj_h = g_strdup_printf("Subject: %s", subj);
  hdr = curl_slist_append(hdr, subj_h);
  uuid = g_uuid_string_random();
  msgid = g_strdup_printf("Message-ID: <%s@pipehost>", uuid);
  hdr = curl_slist_append(hdr, msgid);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
  /* the body: alternative (text + html) inside mixed (attachments) */
  mime = curl_mime_init(c);
  curl_mime *alt = NULL;
  curl_mimepart *part;
  if (body && html) {
    alt = curl_mime_init(c);
    part = curl_mime_addpart(alt);
    curl_mime_data(part, body, CURL_ZERO_TERMINATED);
    curl_mime_type(part, "text/plain; charset=utf-8");
    curl_mime_encoder(part, "quoted-printable");
    part = curl_mime_addpart(alt);
    curl_mime_data(part, html, CURL_ZERO_TERMINATED);
    curl_mime_type(part, "text/html; charset=utf-8");
    curl_mime_encoder(part, "quoted-printable");
    part = curl_mime_addpart(mime);
    curl_mime_subparts(part, alt);
    curl_mime_type(part, "multipart/alternative");
    struct curl_slist *ph = curl_slist_append(NULL, "Content-Disposition: inline");
    curl_mime_headers(part, ph, 1);
  } else {
    part = curl_mime_addpart(mime);
    curl_mime_data(part, html ? html : body ? body : "", CURL_ZERO_TERMINATED);
    curl_mime_type(part, html ? "text/html; charset=utf-8"
                              : "text/plain; charset=utf-8");
    curl_mime_encoder(part, "quoted-printable");
  }
  for (char **f = files; *f; f++) {
    if (!g_file_test(*f, G_FILE_TEST_IS_REGULAR)) {
      h->set_reason(t, "attachment %s: no such file", *f);
      goto out;
    }
    part = curl_mime_addpart(mime);
    curl_mime_filedata(part, *f);
    g_autofree char *base = g_path_get_basename(*f);
    curl_mime_filename(part, base);
    curl_mime_type(part, mime_type(*f));
    curl_mime_encoder(part, "base64");
  }
  curl_easy_setopt(c, CURLOPT_MIMEPOST, mime);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, s);
  h->log(t, PH_LOG_INFO, "sending \"%s\" to %d recipient(s) via %s", subject,
         n_rcpt, url);
  CURLcode cc_ = curl_easy_perform(c);
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  if (cc_ == CURLE_OK) {
    JsonObject *r = json_object_new();
    json_object_set_int_member(r, "recipients", n_rcpt);
    json_object_set_string_member(r, "message_id", msgid + strlen("Message-ID: "));
    JsonNode *rn = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(rn, r);
    g_autofree char *txt = pu_json_text(rn);
    json_node_unref(rn);
    h->log(t, PH_LOG_INFO, "sent (SMTP %ld)", code);
    st = h->xcom_push(t, NULL, txt);
  } else if (cc_ == CURLE_ABORTED_BY_CALLBACK) {
    h->set_reason(t, "cancelled");
    st = PH_CANCELLED;
  } else {
    h->set_reason(t, "SMTP %s: %s%s%ld", url, curl_easy_strerror(cc_),
                  code ? ", server replied " : "", code);
    /* 4xx replies and transport problems may pass; 5xx and refused
     * logins will not */
    st = (code >= 500 || cc_ == CURLE_LOGIN_DENIED ||
          cc_ == CURLE_PEER_FAILED_VERIFICATION ||
          cc_ == CURLE_USE_SSL_FAILED)
             ? PH_FAIL
             : PH_ERROR;
  }
out:
  if (mime)
    curl_mime_free(mime);
  curl_slist_free_all(hdr);
  curl_slist_free_all(rcpt);
  if (c)
    curl_easy_cleanup(c);
  if (conn)
    json_node_unref(conn);
  g_free(url);
  g_free(from_env);
  g_free(msgid);
  g_free(from_h);
  g_free(subj);
  g_free(subj_h);
  g_free(uuid);
  g_strfreev(to);
  g_strfreev(cc);
  g_strfreev(bcc);
  g_strfreev(files);
  return st;
}

/* ---- the implementation table (plugins/common/lazy.h) */

static const ph_operator impl_op = {PH_OPERATOR_INIT,
                                    .type = "email",
                                    .init = mail_init,
                                    .execute = mail_execute,
                                    .on_kill = mail_kill,
                                    .destroy = mail_destroy};

PH_EXPORT const ph_operator *pipehost_impl_operator(const char *type) {
  return strcmp(type, impl_op.type) ? NULL : &impl_op;
}
