/* sql -- the descriptors of the sql and sql_sensor operators.  Their code
 * (sql.c, with libpq and SQLite) is impl/sql.so, loaded by the first try
 * that needs it (plugins/common/lazy.h). */
#include <stddef.h>

#include "../common/lazy.h"

#define P(var, nm, ty, fl, def, dc)                                            \
  static const ph_param var = {PH_PARAM_INIT, .name = nm, .type = ty,          \
                               .flags = fl, .default_json = def, .doc = dc}
P(p_conn, "conn_id", "string", PH_PARAM_REQUIRED, NULL,
  "the database: a sqlite:///path.db or postgresql://... connection");
P(p_sql, "sql", "any", PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED, NULL,
  "a statement or a list of statements (SQLite also runs several in one "
  "string; PostgreSQL binds parameters into one statement each)");
P(p_params, "parameters", "any", PH_PARAM_TEMPLATED, NULL,
  "bind parameters: a list for ? / $1, an object for :name (never spliced "
  "into the SQL)");
P(p_auto, "autocommit", "boolean", 0, "false",
  "false: one transaction, rolled back on any error");
P(p_format, "output_format", "string", 0, "\"objects\"",
  "the rows as a list of objects (objects) or of lists (rows)");
P(p_max, "max_rows", "integer", 0, "1000",
  "more rows than this fails the task (use output_csv for big results)");
P(p_csv, "output_csv", "string", PH_PARAM_TEMPLATED, NULL,
  "write the rows to this CSV file instead; pushes {path, rows}");
P(p_fail_empty, "fail_on_empty", "boolean", 0, "false",
  "sql_sensor: no rows fails instead of waiting");
static const ph_param *const sql_params[] = {
    &p_conn, &p_sql, &p_params, &p_auto, &p_format, &p_max, &p_csv, NULL};
static const ph_param *const sensor_params[] = {&p_conn, &p_sql, &p_params,
                                                &p_fail_empty, NULL};

PH_LAZY_PREFORK("sql")
PH_LAZY_INIT(sql, "sql", "sql")
PH_LAZY_INIT(sensor, "sql", "sql_sensor")

static const ph_operator sql_op = {
    PH_OPERATOR_INIT,
    .type = "sql",
    .doc = "Run SQL on SQLite or PostgreSQL with bound parameters, in one "
           "transaction; rows as XCom or a CSV file",
    .kind = PH_KIND_TASK,
    .params = sql_params,
    .init = sql_init,
    .execute = ph_lazy_execute,
    .on_kill = ph_lazy_on_kill,
    .destroy = ph_lazy_destroy};
static const ph_operator sensor_op = {
    PH_OPERATOR_INIT,
    .type = "sql_sensor",
    .doc = "Wait until the first cell of a query is truthy",
    .kind = PH_KIND_SENSOR,
    .params = sensor_params,
    .init = sensor_init,
    .poke = ph_lazy_poke,
    .on_kill = ph_lazy_on_kill,
    .destroy = ph_lazy_destroy};
static const ph_operator *const ops[] = {&sql_op, &sensor_op, NULL};

static const ph_plugin plugin = {PH_PLUGIN_INIT,
                                 .name = "sql",
                                 .version = "1.0.0",
                                 .license = "MIT",
                                 .description = "SQL on SQLite and PostgreSQL",
                                 .origin = "pipehost",
                                 .operators = ops,
    .prefork = lazy_prefork};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
