/* ml_metrics -- validation metrics computed as scikit-learn computes them
 * (sklearn.metrics 1.2): accuracy, precision/recall/F1 (binary: the
 * positive class is the higher label; multiclass: macro average, 0 where a
 * ratio is 0/0), ROC AUC (binary, ties count one half), log loss
 * (probabilities clipped to [eps, 1-eps] and renormalised), MAE, RMSE,
 * R^2. */
#ifndef ML_METRICS_H
#define ML_METRICS_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* Classification metrics of n predictions over k classes (indexes
 * 0..k-1) into out.  proba (n*k, row-major) and score (n, the positive
 * class's score, binary only) may be NULL. */
void ml_metrics_classification(const int *y_true, const int *y_pred, guint n,
                               int k, const double *proba, const double *score,
                               JsonObject *out);

/* Regression metrics into out. */
void ml_metrics_regression(const double *y_true, const double *y_pred, guint n,
                           JsonObject *out);

#endif
