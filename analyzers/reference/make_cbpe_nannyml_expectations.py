#!/usr/bin/env python3
"""Write cbpe-nannyml-expected.json: NannyML's own CBPE estimates for the CBPE cases of
performance-expected.json (same reference and window data), for src/performance/performance.test.ts.

NannyML pulls in its own scikit-learn, numpy and pandas, so it runs in a venv of its own. NannyML 0.13.1
imports statsmodels without declaring it, and its plots fail to import with pandas 3, so both are added:
    python3 -m venv /tmp/nannyml-venv
    /tmp/nannyml-venv/bin/pip install nannyml==0.13.1 statsmodels "pandas<3"
    /tmp/nannyml-venv/bin/python analyzers/reference/make_cbpe_nannyml_expectations.py
"""

import json
from pathlib import Path

import nannyml
import numpy as np
import pandas as pd

METRICS = ["roc_auc", "recall", "specificity", "precision", "accuracy"]


def run_case(case):
    threshold = case["threshold"]
    reference = pd.DataFrame({"p": case["referenceScores"], "y": case["referenceLabels"]})
    analysis = pd.DataFrame({"p": case["windowScores"]})
    for frame in (reference, analysis):
        frame["y_pred"] = (frame["p"] >= threshold).astype(int)

    estimator = nannyml.CBPE(
        y_pred_proba="p",
        y_pred="y_pred",
        y_true="y",
        problem_type="classification_binary",
        metrics=METRICS,
        chunk_size=len(analysis),
    )
    estimator.fit(reference)
    result = estimator.estimate(analysis).filter(period="analysis").to_df()
    row = result.iloc[0]
    expected = {"needsCalibration": bool(estimator.needs_calibration)}
    for metric in METRICS:
        expected[metric] = {
            "value": float(row[(metric, "value")]),
            "samplingError": float(row[(metric, "sampling_error")]),
        }
    return {"name": case["name"], "expected": expected}


def main():
    source = json.loads(Path(__file__).with_name("performance-expected.json").read_text())
    output = {
        "generator": "analyzers/reference/make_cbpe_nannyml_expectations.py",
        "versions": {"nannyml": nannyml.__version__, "numpy": np.__version__, "pandas": pd.__version__},
        "cases": [run_case(case) for case in source["cbpe"]],
    }
    path = Path(__file__).with_name("cbpe-nannyml-expected.json")
    path.write_text(json.dumps(output, indent=1) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
