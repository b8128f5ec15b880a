/* ph_map -- dynamic task mapping (Airflow's expand / expand_kwargs): what
 * a mapped task expands into when it would run.
 *
 * A task with `expand: {PARAM: LIST | {from: TASK, key: KEY}, ...}` runs
 * as one instance per item, map_index 0..n-1: several params form a
 * cartesian product (the first one outermost, the last varying fastest);
 * `expand_kwargs: LIST | {from: ...}` gives each instance an object of
 * params.  A list comes from the DAG or from an upstream's XCom, which
 * must be a list (an empty object, Lua's empty table, is an empty list).
 * A name that is no param of the operator is a keyword argument of an
 * operator with an object param `kwargs` (lua), as ph_plan allows.  The
 * scheduler (ph_sched) turns the items into task instances.
 */
#ifndef PH_MAP_H
#define PH_MAP_H

#include <glib.h>
#include <json-glib/json-glib.h>

#include "ph_plan.h"
#include "ph_store.h"

/* The params of each instance of mapped task t in run run_id, in
 * map_index order: t's constant params with the mapped ones set, each
 * checked against the operator's param types (a new array of JsonObject,
 * possibly empty: zero items), or NULL with *why (caller frees) naming
 * what is wrong: an upstream whose value is not a list, an item the
 * operator cannot take, more items than t's max_map_length. */
GPtrArray *ph_map_items(ph_store *st, const char *run_id,
                        const ph_task_spec *t, char **why);

#endif /* PH_MAP_H */
