#!/usr/bin/env python3
"""Write performance-expected.json: labelled-performance and CBPE reference values on seeded data.

The TypeScript tests (analyzers/src/performance/*.test.ts) read the inputs stored in the JSON file and
compare their results with the values computed here by scikit-learn and SciPy.

Usage (from the repository root):
    python3 -m venv /tmp/perf-venv
    /tmp/perf-venv/bin/pip install scikit-learn==1.5.2 scipy==1.14.1 numpy==2.1.3
    /tmp/perf-venv/bin/python analyzers/reference/make_performance_expectations.py
"""

import json
from pathlib import Path

import numpy as np
import scipy
import sklearn
from scipy import stats
from sklearn.calibration import calibration_curve
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

Z_95 = stats.norm.ppf(0.975)
ECE_BINS = 10


def seeded_case(seed, n, prevalence, separation, quantum=None):
    """Scores of a model whose logit is separation * label + noise; optional rounding creates ties."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < prevalence).astype(int)
    logits = separation * (labels - 0.5) + rng.normal(0.0, 1.0, n)
    scores = 1.0 / (1.0 + np.exp(-logits))
    if quantum is not None:
        scores = np.round(scores / quantum) * quantum
    return scores.tolist(), labels.tolist()


def delong_by_definition(scores, labels):
    """AUROC and DeLong variance from the O(m·n) structural components, independent of the midrank method."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    positives = scores[labels == 1]
    negatives = scores[labels == 0]
    psi = (positives[:, None] > negatives[None, :]) + 0.5 * (positives[:, None] == negatives[None, :])
    v10 = psi.mean(axis=1)
    v01 = psi.mean(axis=0)
    variance = v10.var(ddof=1) / len(positives) + v01.var(ddof=1) / len(negatives)
    return float(psi.mean()), float(variance)


def wilson(x, n):
    if n == 0:
        return None
    interval = stats.binomtest(int(x), int(n)).proportion_ci(confidence_level=0.95, method="wilson")
    return {"x": int(x), "n": int(n), "value": x / n, "lower": float(interval.low), "upper": float(interval.high)}


def ece(scores, labels):
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    prob_true, prob_pred = calibration_curve(labels, scores, n_bins=ECE_BINS, strategy="uniform")
    # calibration_curve drops empty bins; its bin index rule gives the counts of the non-empty bins.
    edges = np.linspace(0.0, 1.0, ECE_BINS + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], scores), minlength=ECE_BINS)
    counts = counts[counts > 0]
    return float(np.sum(counts / len(scores) * np.abs(prob_true - prob_pred)))


def calibration_fit(scores, labels):
    """Unpenalised logistic regression of the label on logit(p), fitted to a 1e-12 gradient tolerance."""
    logit = np.log(np.asarray(scores) / (1.0 - np.asarray(scores))).reshape(-1, 1)
    model = LogisticRegression(penalty=None, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    model.fit(logit, labels)
    return float(model.coef_[0][0]), float(model.intercept_[0])


def labelled_case(name, scores, labels, threshold):
    scores_array = np.asarray(scores)
    labels_array = np.asarray(labels)
    predicted = scores_array >= threshold
    tp = int(np.sum(predicted & (labels_array == 1)))
    fp = int(np.sum(predicted & (labels_array == 0)))
    tn = int(np.sum(~predicted & (labels_array == 0)))
    fn = int(np.sum(~predicted & (labels_array == 1)))
    auroc, variance = delong_by_definition(scores, labels)
    slope, intercept = calibration_fit(scores, labels)
    return {
        "name": name,
        "threshold": threshold,
        "scores": scores,
        "labels": labels,
        "expected": {
            "auroc": float(roc_auc_score(labels, scores)),
            "aurocByDefinition": auroc,
            "deLongVariance": variance,
            "aurocLower": max(0.0, auroc - Z_95 * np.sqrt(variance)),
            "aurocUpper": min(1.0, auroc + Z_95 * np.sqrt(variance)),
            "averagePrecision": float(average_precision_score(labels, scores)),
            "brier": float(brier_score_loss(labels, scores)),
            "ece": ece(scores, labels),
            "calibrationSlope": slope,
            "calibrationIntercept": intercept,
            "counts": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
            "sensitivity": wilson(tp, tp + fn),
            "specificity": wilson(tn, tn + fp),
            "ppv": wilson(tp, tp + fp),
            "npv": wilson(tn, tn + fn),
        },
    }


def cbpe_case(name, reference, window, threshold):
    """Isotonic fit by scikit-learn, expected confusion by hand, AUROC as a weighted ROC by scikit-learn."""
    reference_scores, reference_labels = reference
    window_scores, window_labels = window
    isotonic = IsotonicRegression(increasing=True, out_of_bounds="clip")
    isotonic.fit(reference_scores, reference_labels)
    calibrated = isotonic.predict(window_scores)

    predicted = np.asarray(window_scores) >= threshold
    tp = float(np.sum(calibrated[predicted]))
    fp = float(np.sum(1.0 - calibrated[predicted]))
    fn = float(np.sum(calibrated[~predicted]))
    tn = float(np.sum(1.0 - calibrated[~predicted]))

    # Each result counts once as a positive with weight c and once as a negative with weight 1 - c.
    doubled_labels = np.concatenate([np.ones(len(calibrated)), np.zeros(len(calibrated))])
    doubled_scores = np.concatenate([calibrated, calibrated])
    weights = np.concatenate([calibrated, 1.0 - calibrated])
    expected_auroc = float(roc_auc_score(doubled_labels, doubled_scores, sample_weight=weights))

    return {
        "name": name,
        "threshold": threshold,
        "referenceScores": reference_scores,
        "referenceLabels": reference_labels,
        "windowScores": window_scores,
        "windowLabels": window_labels,
        "expected": {
            "calibrated": calibrated.tolist(),
            "tp": tp,
            "fp": fp,
            "tn": tn,
            "fn": fn,
            "sensitivity": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "ppv": tp / (tp + fp),
            "npv": tn / (tn + fn),
            "accuracy": (tp + tn) / len(calibrated),
            "auroc": expected_auroc,
            "realizedAuroc": float(roc_auc_score(window_labels, window_scores)),
        },
    }


def main():
    labelled = [
        labelled_case("balanced continuous", *seeded_case(11, 200, 0.5, 2.0), 0.5),
        labelled_case("ties on a 0.05 grid", *seeded_case(12, 160, 0.4, 1.5, quantum=0.05), 0.5),
        labelled_case("small imbalanced", *seeded_case(13, 40, 0.2, 1.0), 0.3),
    ]
    cbpe = [
        cbpe_case("same population", seeded_case(21, 600, 0.3, 2.0), seeded_case(22, 200, 0.3, 2.0), 0.5),
        cbpe_case("ties in reference", seeded_case(23, 400, 0.5, 1.0, quantum=0.1), seeded_case(24, 150, 0.5, 1.0), 0.5),
    ]
    output = {
        "generator": "analyzers/reference/make_performance_expectations.py",
        "versions": {"numpy": np.__version__, "scipy": scipy.__version__, "scikit-learn": sklearn.__version__},
        "eceBins": ECE_BINS,
        "labelled": labelled,
        "cbpe": cbpe,
    }
    path = Path(__file__).with_name("performance-expected.json")
    path.write_text(json.dumps(output, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
