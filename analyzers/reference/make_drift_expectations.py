#!/usr/bin/env python3
"""Write drift-expected.json: Evidently's univariate drift tests on seeded columns, for stats/drift-tests.test.ts.

Each score comes from Evidently's own stattest objects (evidently.legacy.calculations.stattests), the
automatic choice from its get_stattest(), and the dataset verdicts from a legacy Report with DataDriftTable.
The chi-square statistic comes from scipy.stats.chisquare, and the incomplete gamma and normal CDF points
from scipy.special. Columns are built from the same LCG samples as src/testing/seeded-samples.ts.

The NannyML section runs NannyML's UnivariateDriftCalculator (Kolmogorov-Smirnov with its
StandardDeviationThreshold: reference chunks' mean plus or minus 3 standard deviations) for
stats/standard-deviation-threshold.test.ts.

Evidently 0.7.23 does not import with pandas 3, so pandas is pinned below 3. NannyML 0.13.1 installs with
the same numpy, scipy and pandas.

Usage (from the repository root):
    python3 -m venv /tmp/mm-venv && /tmp/mm-venv/bin/pip install evidently==0.7.23 nannyml==0.13.1 \
        scipy==1.17.1 numpy==2.4.6 pandas==2.3.3
    /tmp/mm-venv/bin/python analyzers/reference/make_drift_expectations.py
"""

import json
import math
import warnings
from importlib.metadata import version
from pathlib import Path

import nannyml as nml
import numpy as np
import pandas as pd
from scipy import special, stats

from evidently.legacy.calculations.stattests import (
    chi_stat_test,
    hellinger_stat_test,
    jensenshannon_stat_test,
    ks_stat_test,
    psi_stat_test,
    wasserstein_stat_test,
    z_stat_test,
)
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType
from evidently.legacy.metrics import DataDriftTable
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report

from make_expectations import generate_sample, spec

warnings.simplefilter("ignore")

TESTS = {
    "ks": ks_stat_test,
    "z": z_stat_test,
    "chisquare": chi_stat_test,
    "wasserstein": wasserstein_stat_test,
    "jensenshannon": jensenshannon_stat_test,
    "hellinger": hellinger_stat_test,
    "psi": psi_stat_test,
}
DISPLAY_TO_NAME = {test.display_name: name for name, test in TESTS.items()}


def number(value):
    """Encode a float for JSON: non-finite values become the strings 'Infinity', '-Infinity' or 'NaN'."""
    value = float(value)
    return value if math.isfinite(value) else str(value).replace("inf", "Infinity").replace("nan", "NaN")


def column(name, kind, reference, current, categories=None, missing_every=None):
    return {
        "name": name,
        "type": kind,
        "reference": reference,
        "current": current,
        "categories": categories,
        "missingEvery": missing_every,
    }


def values(sample_spec, categories, missing_every):
    """Mirror columnValues() of the TypeScript test: categories 'c<k>' from floor(v·k), every n-th value missing."""
    raw = generate_sample(sample_spec)
    if categories is not None:
        raw = [f"c{math.floor(v * categories)}" for v in raw]
    if missing_every is not None:
        raw = [None if index % missing_every == 0 else v for index, v in enumerate(raw)]
    return raw


def series(case, side):
    data = values(case[side], case["categories"], case["missingEvery"])
    return pd.Series(data, dtype=object if case["type"] == "categorical" else float).dropna()


COLUMNS = [
    column("continuous small", "numerical", spec(101, 200), spec(102, 150, shift=0.05)),
    column("continuous stable", "numerical", spec(103, 300), spec(104, 300)),
    column("continuous large reference", "numerical", spec(105, 2500), spec(106, 800, shift=0.03)),
    column("continuous large stable", "numerical", spec(107, 1500), spec(108, 1500)),
    column("ties", "numerical", spec(109, 400, quantum=0.05), spec(110, 300, shift=0.05, quantum=0.05)),
    column("few values", "numerical", spec(111, 300, scale=4, terms=1, quantum=1),
           spec(112, 250, scale=4, terms=1, quantum=1)),
    column("few values large", "numerical", spec(113, 1800, scale=5, terms=1, quantum=1),
           spec(114, 900, scale=5, terms=2, quantum=1)),
    column("binary", "numerical", spec(115, 500, scale=2, terms=1, quantum=1),
           spec(116, 400, scale=2, terms=2, quantum=1)),
    column("twenty values", "numerical", spec(117, 600, scale=20, terms=1, quantum=1),
           spec(118, 500, scale=20, terms=2, quantum=1)),
    column("constant", "numerical", spec(119, 100, scale=0, shift=3), spec(120, 80, scale=0, shift=3)),
    column("constant vs other", "numerical", spec(121, 100, scale=0, shift=3), spec(122, 80, scale=0, shift=4)),
    column("categorical three", "categorical", spec(123, 300, terms=1), spec(124, 200, terms=2), categories=3),
    column("categorical binary", "categorical", spec(125, 300, terms=1), spec(126, 200, terms=2), categories=2),
    column("categorical unseen", "categorical", spec(127, 300, scale=0.5, terms=1),
           spec(128, 200, terms=1), categories=4),
    column("categorical large", "categorical", spec(129, 3000, terms=1), spec(130, 1000, terms=2), categories=8),
    column("missing values", "numerical", spec(131, 300), spec(132, 200, shift=0.1), missing_every=7),
    column("categorical missing", "categorical", spec(133, 200, terms=1), spec(134, 120, terms=1),
           categories=5, missing_every=5),
]

DATASETS = [
    ("small mixed", ["continuous small", "continuous stable", "binary", "categorical three", "missing values"]),
    ("large mixed", ["continuous large reference", "continuous large stable", "few values large",
                     "categorical large"]),
    ("mostly stable", ["continuous stable", "few values", "constant", "categorical missing"]),
]


def tests_for(case, distinct):
    if case["type"] == "categorical":
        names = ["chisquare", "jensenshannon", "hellinger", "psi"]
    else:
        names = ["ks", "wasserstein", "jensenshannon", "hellinger", "psi", "chisquare"]
    if distinct <= 2:
        names.append("z")
    return names


def column_expectation(case):
    reference = series(case, "reference")
    current = series(case, "current")
    column_type = ColumnType.Categorical if case["type"] == "categorical" else ColumnType.Numerical
    distinct = pd.concat([reference, current]).nunique()

    scores = {}
    for name in tests_for(case, distinct):
        result = TESTS[name](reference.copy(), current.copy(), column_type, None)
        scores[name] = {"score": number(result.drift_score), "drifted": bool(result.drifted),
                        "threshold": result.actual_threshold}

    counts = pd.concat([reference, current]).value_counts()
    keys = list(counts.index)
    observed = [int((current == key).sum()) for key in keys]
    expected = [int((reference == key).sum()) * len(current) / len(reference) for key in keys]
    chi_square_statistic = number(stats.chisquare(observed, expected)[0])

    automatic = get_stattest(reference, current, column_type, None).name
    return {**case, "automatic": automatic, "scores": scores, "chiSquareStatistic": chi_square_statistic}


def dataset_expectation(name, column_names):
    cases = [case for case in COLUMNS if case["name"] in column_names]
    reference = pd.DataFrame({case["name"]: pd.Series(values(case["reference"], case["categories"],
                                                             case["missingEvery"])) for case in cases})
    current = pd.DataFrame({case["name"]: pd.Series(values(case["current"], case["categories"],
                                                           case["missingEvery"])) for case in cases})
    numerical = [case["name"] for case in cases if case["type"] == "numerical"]
    categorical = [case["name"] for case in cases if case["type"] == "categorical"]
    for column_name in numerical:
        reference[column_name] = reference[column_name].astype(float)
        current[column_name] = current[column_name].astype(float)

    report = Report(metrics=[DataDriftTable()])
    report.run(reference_data=reference, current_data=current,
               column_mapping=ColumnMapping(numerical_features=numerical, categorical_features=categorical))
    result = report.as_dict()["metrics"][0]["result"]
    columns = {
        column_name: {"test": DISPLAY_TO_NAME[drift["stattest_name"]], "score": number(drift["drift_score"]),
                      "drifted": bool(drift["drift_detected"])}
        for column_name, drift in result["drift_by_columns"].items()
    }
    return {"name": name, "columns": column_names, "byColumn": columns,
            "driftedFeatures": result["number_of_drifted_columns"],
            "share": result["share_of_drifted_columns"], "drifted": bool(result["dataset_drift"])}


NANNYML_CASES = [
    {"name": "ks shifted", "reference": spec(141, 500), "analysis": spec(142, 300, shift=0.08), "chunkSize": 100},
    {"name": "ks stable", "reference": spec(143, 600), "analysis": spec(144, 400), "chunkSize": 150},
]


def nannyml_expectation(case):
    """Reference and analysis chunk values, limits and alerts of NannyML's KS drift with std thresholds."""
    reference = pd.DataFrame({"x": generate_sample(case["reference"])})
    analysis = pd.DataFrame({"x": generate_sample(case["analysis"])})
    calculator = nml.UnivariateDriftCalculator(
        column_names=["x"],
        continuous_methods=["kolmogorov_smirnov"],
        chunk_size=case["chunkSize"],
        thresholds={"kolmogorov_smirnov": nml.thresholds.StandardDeviationThreshold()},
    )
    calculator.fit(reference)
    table = calculator.calculate(analysis).filter(period="all").to_df()
    chunks = [
        {
            "key": row[("chunk", "chunk", "key")],
            "period": row[("chunk", "chunk", "period")],
            "value": number(row[("x", "kolmogorov_smirnov", "value")]),
            "alert": bool(row[("x", "kolmogorov_smirnov", "alert")]),
        }
        for _, row in table.iterrows()
    ]
    first = table.iloc[0]
    return {
        **case,
        "lowerThreshold": number(first[("x", "kolmogorov_smirnov", "lower_threshold")]),
        "upperThreshold": number(first[("x", "kolmogorov_smirnov", "upper_threshold")]),
        "chunks": chunks,
    }


GAMMA_POINTS = [(a, a * f) for a in [0.5, 1, 1.5, 2.5, 4, 7.5, 14.5, 15, 20, 49.5, 100, 499.5]
                for f in [0.01, 0.3, 0.9, 1, 1.1, 1.5, 2.5, 5]]
NORMAL_POINTS = [-9, -3, -1, -0.5, 0, 0.3, 0.7, 0.99, 1.5, 4, 8]


def main():
    output = {
        "generator": "analyzers/reference/make_drift_expectations.py",
        "versions": {package: version(package) for package in ["evidently", "nannyml", "scipy", "numpy", "pandas"]},
        "columns": [column_expectation(case) for case in COLUMNS],
        "datasets": [dataset_expectation(name, names) for name, names in DATASETS],
        "gammaincc": [{"a": a, "x": x, "q": float(special.gammaincc(a, x))} for a, x in GAMMA_POINTS],
        "ndtr": [{"z": z, "cdf": float(special.ndtr(z))} for z in NORMAL_POINTS],
        "nannymlThresholds": [nannyml_expectation(case) for case in NANNYML_CASES],
    }
    path = Path(__file__).with_name("drift-expected.json")
    path.write_text(json.dumps(output, indent=2, allow_nan=False) + "\n")
    print(f"Wrote {path} with {len(output['columns'])} columns and {len(output['datasets'])} datasets.")


if __name__ == "__main__":
    main()
