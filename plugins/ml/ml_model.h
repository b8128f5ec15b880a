/* ml_model -- training, prediction, saving and loading for the three
 * algorithms: "xgboost" (XGBoost's C API), "logistic_regression" and
 * "linear_svm" (liblinear).  Classes are indexes 0..k-1 (the caller maps
 * labels); for regression k is 0.  Features are row-major doubles, NAN for
 * a missing value. */
#ifndef ML_MODEL_H
#define ML_MODEL_H

#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct ml_model ml_model;

/* TRUE when algorithm names a supported algorithm. */
gboolean ml_model_known(const char *algorithm);

/* Trains on n rows of d features.  y holds class indexes (k >= 2) or
 * values (k == 0).  hyper (may be NULL) overrides the defaults; unknown
 * keys are passed to XGBoost as they are, refused for liblinear.  NULL with
 * error on failure (e.g. a liblinear parameter check). */
ml_model *ml_model_train(const char *algorithm, int k, const double *X,
                         const double *y, guint n, guint d, JsonObject *hyper,
                         int num_round, GError **error);
/* Predicts n rows: pred gets class indexes or values; proba (n*k, may be
 * NULL) class probabilities when the algorithm has them (returns FALSE in
 * *has_proba otherwise); score (n, may be NULL) the positive class's
 * decision value for a binary problem. */
gboolean ml_model_predict(ml_model *m, const double *X, guint n, double *pred,
                          double *proba, double *score, gboolean *has_proba,
                          GError **error);
/* Saves into dir as model.json (XGBoost) or model.txt (liblinear); stores
 * the file's base name in *file (static). */
gboolean ml_model_save(ml_model *m, const char *dir, const char **file,
                       GError **error);
/* Loads a model saved by ml_model_save. */
ml_model *ml_model_load(const char *algorithm, int k, guint d, const char *path,
                        GError **error);
void ml_model_free(ml_model *m);
/* The configuration a model of algorithm trains with for k classes (0:
 * regression): the defaults pinned by ml_model_train with hyper's
 * overrides on top, so a tracked experiment says what produced it.
 * Caller frees. */
JsonObject *ml_model_effective_params(const char *algorithm, int k,
                                      JsonObject *hyper);
/* Why hyper's XGBoost objective cannot work for k classes (static text),
 * or NULL when it is absent or supported: predictions and metrics read
 * probabilities for classifiers and values for regressions. */
const char *ml_model_check_objective(int k, JsonObject *hyper);

/* The library version that produced it, e.g. "xgboost 1.7.4". */
char *ml_model_lib_version(const char *algorithm);

#endif
