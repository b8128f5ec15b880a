#!/usr/bin/env python3
"""Regenerates the demo data from the Wisconsin Diagnostic Breast Cancer set
(UCI, CC BY 4.0; the copy Debian's python3-sklearn ships).  Output, all
deterministic:

  measurements.csv   the feature view: patient_id, event_timestamp and the
                     30 measurements.  Each patient has the measurement taken
                     two days before diagnosis; every 5th patient also has an
                     older one (400 days earlier, outside the 365-day TTL)
                     and every 7th a *late-arriving* one (a day after
                     diagnosis, values scrambled) that a point-in-time join
                     must not use.
  labels.csv         the entity table: patient_id, event_timestamp (the
                     diagnosis time) and diagnosis (0 malignant, 1 benign)
                     for the first 500 patients.
  incoming/new_patients.csv   the 69 other patients' measurements, no label:
                     the "data drop" the demo's file sensor waits for and the
                     rows it scores.

Run: /usr/bin/python3 examples/data/make_data.py (needs python3-sklearn)."""
import csv
import datetime as dt
import os

SRC = "/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv"
NAMES = ["mean_radius", "mean_texture", "mean_perimeter", "mean_area",
         "mean_smoothness", "mean_compactness", "mean_concavity",
         "mean_concave_points", "mean_symmetry", "mean_fractal_dimension",
         "radius_error", "texture_error", "perimeter_error", "area_error",
         "smoothness_error", "compactness_error", "concavity_error",
         "concave_points_error", "symmetry_error", "fractal_dimension_error",
         "worst_radius", "worst_texture", "worst_perimeter", "worst_area",
         "worst_smoothness", "worst_compactness", "worst_concavity",
         "worst_concave_points", "worst_symmetry", "worst_fractal_dimension"]
HERE = os.path.dirname(os.path.abspath(__file__))
N_TRAIN = 500


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    with open(SRC) as f:
        rows = list(csv.reader(f))[1:]
    base = dt.datetime(2024, 1, 1)
    meas, labels, new = [], [], []
    for i, r in enumerate(rows):
        pid = 1000 + i
        feats, target = r[:30], r[30]
        diag = base + dt.timedelta(hours=13 * i)
        if i < N_TRAIN:
            labels.append([pid, iso(diag), target])
            if i % 5 == 0:
                old = [f"{float(v) * 0.9:.6g}" for v in feats]
                meas.append([pid, iso(diag - dt.timedelta(days=400))] + old)
            meas.append([pid, iso(diag - dt.timedelta(days=2))] + feats)
            if i % 7 == 0:
                late = list(reversed(feats))
                meas.append([pid, iso(diag + dt.timedelta(days=1))] + late)
        else:
            new.append([pid] + feats)
    meas.sort(key=lambda m: (m[1], m[0]))
    with open(os.path.join(HERE, "measurements.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["patient_id", "event_timestamp"] + NAMES)
        w.writerows(meas)
    with open(os.path.join(HERE, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["patient_id", "event_timestamp", "diagnosis"])
        w.writerows(labels)
    os.makedirs(os.path.join(HERE, "incoming"), exist_ok=True)
    with open(os.path.join(HERE, "incoming", "new_patients.csv"), "w",
              newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["patient_id"] + NAMES)
        w.writerows(new)


if __name__ == "__main__":
    main()
