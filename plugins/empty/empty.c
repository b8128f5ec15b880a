/* empty -- Airflow's EmptyOperator: completed by the scheduler itself,
 * never started as a process. */
#include "pipehost/plugin.h"

static const ph_param *const no_params[] = {NULL};

static const ph_operator empty_op = {
    PH_OPERATOR_INIT,
    .type = "empty",
    .doc = "Does nothing; the scheduler marks it success without a worker "
           "process (a join point or placeholder).",
    .kind = PH_KIND_TASK,
    .flags = PH_OP_NO_WORKER,
    .params = no_params,
};

static const ph_operator *const ops[] = {&empty_op, NULL};

static const ph_plugin plugin = {
    PH_PLUGIN_INIT,
    .name = "empty",
    .version = "1.0.0",
    .license = "MIT",
    .description = "The empty operator (no process, no params)",
    .origin = "pipehost",
    .operators = ops,
};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
