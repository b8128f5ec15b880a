/* http -- the descriptors of the http and http_sensor operators.  Their
 * code (http.c, with libcurl and Lua) is impl/http.so, loaded by the first
 * try that needs it (plugins/common/lazy.h). */
#include <stddef.h>

#include "../common/lazy.h"

#define P(var, nm, ty, fl, def, dc)                                            \
  static const ph_param var = {PH_PARAM_INIT, .name = nm, .type = ty,          \
                               .flags = fl, .default_json = def, .doc = dc}
P(p_method, "method", "string", 0, "\"GET\"", "GET, POST, PUT, DELETE, ...");
P(p_url, "url", "string", PH_PARAM_TEMPLATED, NULL,
  "the full URL (or use conn_id and endpoint)");
P(p_endpoint, "endpoint", "string", PH_PARAM_TEMPLATED, NULL,
  "a path joined to the connection's base URL");
P(p_conn, "conn_id", "string", 0, NULL,
  "http(s)://user:pass@host:port/base; extra.headers are sent too");
P(p_headers, "headers", "object", PH_PARAM_TEMPLATED, NULL, "request headers");
P(p_data, "data", "string", PH_PARAM_TEMPLATED, NULL, "a request body");
P(p_json, "json", "any", PH_PARAM_TEMPLATED, NULL,
  "a JSON request body (Content-Type: application/json)");
P(p_auth, "auth", "object", PH_PARAM_TEMPLATED | PH_PARAM_SECRET, NULL,
  "{type: basic, username, password} | {type: bearer, token} | {type: none}; "
  "default: the connection's login and password");
P(p_timeout, "request_timeout", "number", 0, "30",
  "seconds for the whole request (timeout is the sensor's)");
P(p_codes, "status_codes", "array", 0, NULL,
  "accepted statuses (default: any 2xx)");
P(p_check, "response_check", "string", 0, NULL,
  "a Lua expression over response (status, text, json, headers) that must "
  "be true, e.g. \"response.json.state == 'done'\"");
P(p_filter, "response_filter", "string", 0, NULL,
  "a Lua expression whose value is the XCom (default: the JSON body, or "
  "the text)");
P(p_verify, "verify", "boolean", 0, "true", "verify TLS certificates");
P(p_ca, "ca_bundle", "string", 0, NULL, "a CA file to verify against");
P(p_log, "log_response", "boolean", 0, "false", "log the response body");
P(p_max, "max_response_bytes", "integer", 0, "10485760",
  "a bigger response fails the task");
static const ph_param *const http_params[] = {
    &p_method, &p_url,    &p_endpoint, &p_conn,   &p_headers, &p_data,
    &p_json,   &p_auth,   &p_timeout,  &p_codes,  &p_check,   &p_filter,
    &p_verify, &p_ca,     &p_log,      &p_max,    NULL};

PH_LAZY_PREFORK("http")
PH_LAZY_INIT(http, "http", "http")
PH_LAZY_INIT(sensor, "http", "http_sensor")

static const ph_operator http_op = {
    PH_OPERATOR_INIT,
    .type = "http",
    .doc = "An HTTP request (libcurl); the JSON body or a filtered value is "
           "the XCom; 5xx, 429 and transport errors are retryable",
    .kind = PH_KIND_TASK,
    .params = http_params,
    .init = http_init,
    .execute = ph_lazy_execute,
    .on_kill = ph_lazy_on_kill,
    .destroy = ph_lazy_destroy};
static const ph_operator sensor_op = {
    PH_OPERATOR_INIT,
    .type = "http_sensor",
    .doc = "Poke an HTTP endpoint until it answers with an accepted status "
           "and response_check holds",
    .kind = PH_KIND_SENSOR,
    .params = http_params,
    .init = sensor_init,
    .poke = ph_lazy_poke,
    .on_kill = ph_lazy_on_kill,
    .destroy = ph_lazy_destroy};
static const ph_operator *const ops[] = {&http_op, &sensor_op, NULL};

static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "http",
                                 .version = "1.0.0",
                                 .license = "MIT",
                                 .description = "HTTP requests and sensor",
                                 .origin = "pipehost",
                                 .operators = ops,
    .prefork = lazy_prefork};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
