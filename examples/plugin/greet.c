/* greet -- an out-of-tree pipehost plugin, built against the installed
 * public header only:
 *
 *   cc -shared -fPIC $(pkg-config --cflags pipehost-plugin) greet.c -o greet.so
 *
 * It provides one operator, "greet", that logs a greeting, pushes it as
 * the XCom return_value, and fails (without retry) when asked to greet
 * nobody.  No state, no init, no destroy, no hand-written JSON (ABI 1.4:
 * execute2 gets the host table; xcom_push_text writes the JSON). */
#include <stdio.h>

#include <pipehost/plugin.h>

static const ph_param p_name = {
    PH_PARAM_INIT,
    .name = "name",
    .type = "string",
    .flags = PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED,
    .doc = "Who to greet; templated, e.g. \"{{ params.who }}\"",
};
static const ph_param p_excited = {
    PH_PARAM_INIT,
    .name = "excited",
    .type = "boolean",
    .default_json = "false",
    .doc = "End with an exclamation mark",
};
static const ph_param *const greet_params[] = {&p_name, &p_excited, NULL};

static ph_status greet_execute(const ph_host *h, ph_task *t, void *state) {
  const char *name = NULL;
  int32_t excited = 0;
  if (h->param_string(t, "name", &name) != PH_OK || !*name) {
    h->set_error(t, "nobody to greet", "param 'name' is empty",
                 "set name, e.g. name: \"{{ params.who }}\"");
    return PH_FAIL_NO_RETRY; /* no retry can fix this */
  }
  h->param_bool(t, "excited", &excited);
  char msg[512];
  snprintf(msg, sizeof msg, "hello, %s%s", name, excited ? "!" : "");
  h->log(t, PH_LOG_INFO, "greeting %s", name);
  return h->xcom_push_text(t, NULL, msg); /* a quote in name is fine */
}

static const ph_operator greet_op = {
    PH_OPERATOR_INIT,
    .type = "greet",
    .doc = "Greets someone and pushes the greeting as return_value",
    .kind = PH_KIND_TASK,
    .params = greet_params,
    .execute2 = greet_execute,
};

static const ph_operator *const operators[] = {&greet_op, NULL};

static const ph_plugin plugin = {
    PH_PLUGIN_INIT,
    .name = "greet",
    .version = "1.0.0",
    .license = "MIT",
    .description = "Example out-of-tree plugin",
    .origin = "examples/plugin",
    .operators = operators,
};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
