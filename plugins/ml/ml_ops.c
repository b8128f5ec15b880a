/* ml -- the descriptors of the train, predict and model_promote
 * operators.  Their code (ml.c, with XGBoost and liblinear) is a second
 * library, impl/ml.so, loaded by the first try that needs it
 * (plugins/common/lazy.h): the host never maps XGBoost. */
#include <stddef.h>

#include "../common/lazy.h"

/* ---- descriptors */

#define P(var, nm, ty, fl, def, dc)                                            \
  static const ph_param var = {PH_PARAM_INIT, .name = nm,          .type = ty, \
                               .flags = fl,   .default_json = def, .doc = dc}

P(p_algorithm, "algorithm", "string", PH_PARAM_REQUIRED, NULL,
  "xgboost, logistic_regression, linear_svm or baseline (the class "
  "frequencies or the mean: a reference row)");
P(p_input, "input", "any",
  PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED | PH_PARAM_PATH, NULL,
  "the data: a CSV path, {\"path\": ...} (feature_fetch's return value) or "
  "{\"conn_id\": ..., \"table\" | \"query\": ...} (SQLite, PostgreSQL)");
P(p_target, "target", "string", PH_PARAM_REQUIRED, NULL,
  "the column to predict");
P(p_features, "features", "array", 0, NULL,
  "feature columns (default: every other numeric column)");
P(p_exclude, "exclude", "array", 0, NULL,
  "columns left out of the default features (ids, timestamps)");
P(p_task, "task", "string", 0, "\"auto\"",
  "classification, regression, or auto (an integer target with at most 20 "
  "values is a class)");
P(p_every, "validation_every", "integer", 0, "5",
  "data row i is a validation row when i % N == 0");
P(p_fold, "validation_fold", "integer", 0, "0",
  "data row i is a validation row when i % validation_every == this (0 to "
  "validation_every - 1): the fold of a k-fold cross-validation");
P(p_vinput, "validation_input", "any", PH_PARAM_TEMPLATED | PH_PARAM_PATH, NULL,
  "a separate validation table (then every input row trains)");
P(p_hyper, "hyperparameters", "object", 0, NULL,
  "passed to XGBoost (max_depth, eta, ...) or liblinear (C, eps)");
P(p_rounds, "num_round", "integer", 0, "20", "XGBoost boosting rounds");
P(p_register, "register", "string", 0, NULL,
  "register the model as a new version of this name");
P(p_promote, "promote_if_better", "object", 0, NULL,
  "{metric, alias, higher_is_better}: move alias to the new version when it "
  "beats the current one");
static const ph_param *const train_params[] = {
    &p_algorithm, &p_input,   &p_target, &p_features, &p_exclude,
    &p_task,      &p_every,   &p_fold,   &p_vinput,   &p_hyper,
    &p_rounds,    &p_register, &p_promote, NULL};

P(p_model, "model", "string",
  PH_PARAM_REQUIRED | PH_PARAM_TEMPLATED | PH_PARAM_PATH, NULL,
  "a model directory (train's model_path) or NAME@ALIAS, NAME:VERSION, "
  "NAME");
P(p_output, "output", "any", PH_PARAM_TEMPLATED, NULL,
  "the predictions CSV (default: predictions.csv in the artifact "
  "directory), or {conn_id, table} to replace a table (sqlite, postgresql)");
P(p_ids, "id_columns", "array", 0, NULL,
  "input columns copied to the output (default: every non-feature column)");
static const ph_param *const predict_params[] = {&p_model, &p_input, &p_output,
                                                 &p_ids, NULL};

P(p_pmodel, "model", "string", PH_PARAM_TEMPLATED, NULL,
  "the registered model name (or from candidate)");
P(p_version, "version", "integer", 0, NULL, "the version to promote");
P(p_candidate, "candidate", "any", PH_PARAM_TEMPLATED, NULL,
  "a train task's return value: {model_name, version}");
P(p_alias, "alias", "string", 0, "\"production\"", "the alias to move");
P(p_metric, "metric", "string", 0, "\"f1\"", "the metric to compare");
P(p_higher, "higher_is_better", "boolean", 0, "true",
  "false for losses (rmse, log_loss)");
P(p_only, "only_if_better", "boolean", 0, "true",
  "false: move the alias unconditionally");
static const ph_param *const promote_params[] = {
    &p_pmodel, &p_version, &p_candidate, &p_alias,
    &p_metric, &p_higher,  &p_only,      NULL};

PH_LAZY_PREFORK("ml")
PH_LAZY_INIT(train, "ml", "train")
PH_LAZY_INIT(predict, "ml", "predict")
PH_LAZY_INIT(promote, "ml", "model_promote")

static const ph_operator train_op = {
    PH_OPERATOR_INIT,
    .type = "train",
    .doc = "Train XGBoost or a liblinear model on a table; validation "
           "metrics as scikit-learn computes them; model, description and "
           "validation predictions in the artifact directory; tracked as an "
           "experiment; optional registration and promotion",
    .kind = PH_KIND_TASK,
    .params = train_params,
    .init = train_init,
    .execute = ph_lazy_execute,
    .destroy = ph_lazy_destroy};
static const ph_operator predict_op = {
    PH_OPERATOR_INIT,
    .type = "predict",
    .doc = "Score a table with a trained model (a path or NAME@ALIAS); "
           "writes a predictions CSV and pushes a summary",
    .kind = PH_KIND_TASK,
    .params = predict_params,
    .init = predict_init,
    .execute = ph_lazy_execute,
    .destroy = ph_lazy_destroy};
static const ph_operator promote_op = {
    PH_OPERATOR_INIT,
    .type = "model_promote",
    .doc = "Move a registry alias (production) to a model version when it "
           "beats the current holder on a metric",
    .kind = PH_KIND_TASK,
    .params = promote_params,
    .init = promote_init,
    .execute = ph_lazy_execute,
    .destroy = ph_lazy_destroy};

static const ph_operator *const ops[] = {&train_op, &predict_op, &promote_op,
                                         NULL};

static const ph_plugin plugin = {
    PH_PLUGIN_INIT,
    .name = "ml",
    .version = "1.0.0",
    .license = "MIT",
    .description = "train (XGBoost, liblinear), predict, model_promote",
    .origin = "pipehost",
    .operators = ops,
    .prefork = lazy_prefork};

PH_EXPORT const ph_plugin *pipehost_plugin_v1(void) { return &plugin; }
