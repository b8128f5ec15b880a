/* feature_fetch -- the operator's descriptor.  Its code
 * (feature_fetch.c, with libcurl and SQLite) is impl/feature_fetch.so,
 * loaded by the first try that needs it (plugins/common/lazy.h). */
#include <stddef.h>

#include "../common/lazy.h"

#define P(var, nm, ty, fl, def, dc)                                            \
  static const ph_param var = {PH_PARAM_INIT, .name = nm,          .type = ty, \
                               .flags = fl,   .default_json = def, .doc = dc}
P(p_mode, "lookup", "string", 0, "\"historical\"",
  "historical (point-in-time join), online (latest values) or feast (a "
  "Feast feature server)");
P(p_entities, "entities", "any", PH_PARAM_TEMPLATED | PH_PARAM_PATH, NULL,
  "historical: the entity table (CSV path, {path} or {conn_id, table}); "
  "online and feast: {join_key: [values]}");
P(p_ets, "entity_timestamp_column", "string", 0, "\"event_timestamp\"",
  "the entity table's timestamp column");
P(p_views, "feature_views", "array", PH_PARAM_TEMPLATED | PH_PARAM_PATH, NULL,
  "[{name, path (CSV) or source {conn_id, table}, join_keys, "
  "timestamp_column, created_column, features, ttl}]");
P(p_full, "full_feature_names", "boolean", 0, "false",
  "name feature columns VIEW__FEATURE");
P(p_missing, "on_missing", "string", 0, "\"null\"",
  "null: empty cells; fail: fail the task when a value is missing");
P(p_output, "output", "string", PH_PARAM_TEMPLATED, NULL,
  "the CSV to write (default: features.csv in the artifact directory)");
P(p_as_of, "as_of", "string", PH_PARAM_TEMPLATED, NULL,
  "online mode: look values up as of this time (default: now)");
P(p_url, "url", "string", PH_PARAM_TEMPLATED, "\"http://localhost:6566\"",
  "feast mode: the feature server");
P(p_features, "features", "array", 0, NULL,
  "feast mode: [\"view:feature\", ...]");
P(p_service, "feature_service", "string", 0, NULL,
  "feast mode: a feature service instead of features");
static const ph_param *const ff_params[] = {
    &p_mode,   &p_entities, &p_ets, &p_views,    &p_full,    &p_missing,
    &p_output, &p_as_of,    &p_url, &p_features, &p_service, NULL};

PH_LAZY_PREFORK("feature_fetch")
PH_LAZY_INIT(ff, "feature_fetch", "feature_fetch")

static const ph_operator ff_op = {
    PH_OPERATOR_INIT,
    .type = "feature_fetch",
    .doc = "Point-in-time correct feature join (Feast semantics) over CSV "
           "files and SQLite tables, online lookups, or a Feast feature "
           "server; writes a CSV",
    .kind = PH_KIND_TASK,
    .params = ff_params,
    .init = ff_init,
    .execute = ph_lazy_execute,
    .on_kill = ph_lazy_on_kill,
    .destroy = ph_lazy_destroy};

static const ph_operator *const ops[] = {&ff_op, NULL};

static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "feature_fetch",
                                 .version = "1.0.0",
                                 .license = "MIT",
                                 .description = "a point-in-time feature store",
                                 .origin = "pipehost",
                                 .operators = ops,
    .prefork = lazy_prefork};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
