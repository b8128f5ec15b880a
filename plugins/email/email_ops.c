/* email -- the email operator's descriptor.  Its code (email.c, with
 * libcurl) is impl/email.so, loaded by the first try that needs it
 * (plugins/common/lazy.h). */
#include <stddef.h>

#include "../common/lazy.h"

#define P(var, nm, ty, fl, def, dc)                                            \
  static const ph_param var = {PH_PARAM_INIT, .name = nm, .type = ty,          \
                               .flags = fl, .default_json = def, .doc = dc}
P(p_conn, "conn_id", "string", 0, "\"smtp_default\"",
  "smtp://user:pass@host:port (STARTTLS when offered; extra.starttls: true "
  "requires it) or smtps://...; extra.from, extra.ca_bundle, extra.verify");
P(p_to, "to", "any", PH_PARAM_TEMPLATED, NULL,
  "recipients: a list, or \"a@x, b@y\"");
P(p_cc, "cc", "any", PH_PARAM_TEMPLATED, NULL, "copy recipients");
P(p_bcc, "bcc", "any", PH_PARAM_TEMPLATED, NULL,
  "hidden recipients (in no header)");
P(p_from, "from", "string", PH_PARAM_TEMPLATED, NULL,
  "the sender (default: the connection's extra.from)");
P(p_subject, "subject", "string", PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED, NULL,
  "the subject (UTF-8)");
P(p_body, "body", "string", PH_PARAM_TEMPLATED, NULL, "the text body");
P(p_html, "html", "string", PH_PARAM_TEMPLATED, NULL,
  "an HTML body (with body: multipart/alternative)");
P(p_files, "files", "any", PH_PARAM_TEMPLATED, NULL,
  "paths of files to attach");
static const ph_param *const mail_params[] = {
    &p_conn, &p_to,   &p_cc,   &p_bcc,   &p_from,
    &p_subject, &p_body, &p_html, &p_files, NULL};

PH_LAZY_PREFORK("email")
PH_LAZY_INIT(mail, "email", "email")

static const ph_operator mail_op = {
    PH_OPERATOR_INIT,
    .type = "email",
    .doc = "Send a MIME email over SMTP (STARTTLS/SMTPS, AUTH, attachments)",
    .kind = PH_KIND_TASK,
    .params = mail_params,
    .init = mail_init,
    .execute = ph_lazy_execute,
    .on_kill = ph_lazy_on_kill,
    .destroy = ph_lazy_destroy};
static const ph_operator *const ops[] = {&mail_op, NULL};

static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "email",
                                 .version = "1.0.0",
                                 .license = "MIT",
                                 .description = "email over SMTP",
                                 .origin = "pipehost",
                                 .operators = ops,
    .prefork = lazy_prefork};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
