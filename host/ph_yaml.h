/* ph_yaml -- loads a YAML DAG file into a ph_dag model. */
#ifndef PH_YAML_H
#define PH_YAML_H
#include "ph_dag.h"
/* Returns the model (possibly carrying errors) or NULL with error set to
 * "FILE:LINE:COL: message" when the file cannot be read or parsed. */
ph_dag *ph_yaml_load(const char *file, GError **error);
#endif
