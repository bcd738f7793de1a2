#!/usr/bin/env python3
"""Python side of the drift benchmark (bench/drift-1m.ts runs it): seeded data, scipy timings, Evidently timings.

Subcommands:
    generate   write reference.f64, current.f64 and features.json into --data: float64 little-endian,
               feature-major (all rows of feature 0, then feature 1, ...), NaN for a missing value,
               categorical features as integer codes
    scipy      time each feature's drift test written with numpy and scipy, as Evidently 0.7.23 defines it
    evidently  time Evidently's ValueDrift per column and DataDriftPreset over all columns

Each timing subcommand runs two modes: "forced" (the test named per feature in features.json) and
"automatic" (Evidently's automatic choice), and writes one JSON file with seconds, scores, versions and
the process's peak RSS. Reading the files is timed apart from the tests.

Usage (from the repository root; the pins are those of analyzers/reference/make_drift_expectations.py):
    python3 -m venv /tmp/mm-venv && /tmp/mm-venv/bin/pip install evidently==0.7.23 scipy==1.17.1 \
        numpy==2.4.6 pandas==2.3.3
    /tmp/mm-venv/bin/python bench/drift_1m.py generate --data /tmp/monitormed-drift-1m --rows 1000000
    /tmp/mm-venv/bin/python bench/drift_1m.py scipy --data /tmp/monitormed-drift-1m --output scipy.json
"""

import argparse
import json
import math
import platform
import resource
import sys
import time
import warnings
from importlib.metadata import version
from pathlib import Path

import numpy as np
from scipy import stats
from scipy.spatial import distance

FORMAT = "float64 little-endian, feature-major, NaN = missing, categorical features as integer codes"

# Synthetic clinical inputs and model outputs. Each generator draws one side (0 = reference, 1 = current)
# of one feature. "test" is the test forced on it in the forced mode, so that every Evidently test runs.
FEATURES = [
    ("age", "numerical", "psi",
     lambda rng, n, side: np.clip(np.round(rng.normal(58 + 3 * side, 17, n)), 18, 100)),
    ("heart_rate", "numerical", "ks", lambda rng, n, side: np.round(rng.normal(82, 14, n))),
    ("respiratory_rate", "numerical", "wasserstein",
     lambda rng, n, side: np.round(rng.normal(17 + 0.5 * side, 3.5, n))),
    ("temperature", "numerical", "jensenshannon", lambda rng, n, side: np.round(rng.normal(37.0, 0.5, n), 1)),
    ("systolic_bp", "numerical", "ks", lambda rng, n, side: rng.normal(125, 18, n)),
    ("spo2", "numerical", "hellinger",
     lambda rng, n, side: np.clip(100 - rng.exponential(2.5 + 0.5 * side, n), 70, 100)),
    ("wbc", "numerical", "wasserstein", lambda rng, n, side: rng.lognormal(math.log(8), 0.35 + 0.05 * side, n)),
    ("lactate", "numerical", "ks",
     lambda rng, n, side: np.where(rng.random(n) < 0.02, np.nan, rng.lognormal(math.log(1.4), 0.5, n))),
    ("creatinine", "numerical", "psi",
     lambda rng, n, side: rng.lognormal(math.log(1.0 + 0.05 * side), 0.45, n)),
    ("glucose", "numerical", "wasserstein",
     lambda rng, n, side: np.where(rng.random(n) < 0.8, rng.normal(105, 20, n), rng.normal(180, 40, n))),
    ("sodium", "numerical", "ks", lambda rng, n, side: np.round(rng.normal(139, 3, n))),
    ("prior_admissions", "numerical", "jensenshannon", lambda rng, n, side: rng.poisson(1.2 + 0.2 * side, n)),
    ("model_score", "numerical", "hellinger", lambda rng, n, side: rng.beta(2, 5, n)),
    ("model_score_shifted", "numerical", "ks", lambda rng, n, side: rng.beta(2 + 0.4 * side, 5, n)),
    ("sex", "categorical", "z", lambda rng, n, side: (rng.random(n) < 0.52).astype(float)),
    ("smoker", "categorical", "z", lambda rng, n, side: (rng.random(n) < 0.18 + 0.04 * side).astype(float)),
    ("modality", "categorical", "hellinger", lambda rng, n, side: rng.choice(3, n, p=[0.6, 0.3, 0.1])),
    ("manufacturer", "categorical", "chisquare",
     lambda rng, n, side: rng.choice(8, n, p=np.roll([0.3, 0.2, 0.15, 0.1, 0.1, 0.07, 0.05, 0.03], side))),
    ("site", "categorical", "jensenshannon",
     lambda rng, n, side: rng.choice(6, n, p=[0.3, 0.25, 0.2, 0.15, 0.1, 0.0] if side == 0
                                     else [0.3, 0.25, 0.2, 0.14, 0.1, 0.01])),
    ("body_part", "categorical", "psi", lambda rng, n, side: rng.choice(12, n)),
]

# Evidently's automatic choice switches from p-value tests to distances above this many reference values.
LARGE_REFERENCE_ROWS = 1000


def peak_rss_bytes():
    """Peak resident set size of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def generate(data_dir: Path, rows: int, seed: int):
    """Write both sides feature by feature, each from its own seeded stream, so a feature never depends on another."""
    data_dir.mkdir(parents=True, exist_ok=True)
    for side, file_name in enumerate(["reference.f64", "current.f64"]):
        with open(data_dir / file_name, "wb") as output:
            for index, (_, _, _, draw) in enumerate(FEATURES):
                rng = np.random.default_rng([seed, index, side])
                np.asarray(draw(rng, rows, side), dtype="<f8").tofile(output)
    manifest = {
        "format": FORMAT,
        "rows": rows,
        "seed": seed,
        "generator": "bench/drift_1m.py",
        "numpy": version("numpy"),
        "features": [{"name": name, "type": kind, "test": test} for name, kind, test, _ in FEATURES],
    }
    (data_dir / "features.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"Wrote {len(FEATURES)} features x {rows} rows per side into {data_dir}.")


def load(data_dir: Path):
    """Read the manifest and both sides as (features, rows) arrays, each a view of one file read."""
    manifest = json.loads((data_dir / "features.json").read_text())
    shape = (len(manifest["features"]), manifest["rows"])
    sides = []
    for file_name in ["reference.f64", "current.f64"]:
        path = data_dir / file_name
        values = np.fromfile(path, dtype="<f8")
        if values.size != shape[0] * shape[1]:
            raise SystemExit(f"Invalid {path}: {values.size} values, expected {shape[0]} x {shape[1]}. "
                             "Run the generate subcommand again.")
        sides.append(values.reshape(shape))
    return manifest, sides[0], sides[1]


def more_distinct_than(values, limit):
    """Tell whether values has more than limit distinct values, looking at a prefix first as an early exit."""
    if np.unique(values[:1024]).size > limit:
        return True
    return np.unique(values).size > limit


def value_counts(reference, current):
    """Count each distinct value of both samples: sorted keys and the counts of each sample over them."""
    keys = np.union1d(np.unique(reference), np.unique(current))
    reference_counts = np.bincount(np.searchsorted(keys, reference), minlength=keys.size)
    current_counts = np.bincount(np.searchsorted(keys, current), minlength=keys.size)
    return keys, reference_counts, current_counts


def binned_shares(reference, current, kind, fill_empty):
    """Evidently's get_binned_data: Sturges bins when a numerical reference has over 20 distinct values, else per value."""
    if kind == "numerical" and more_distinct_than(reference, 20):
        edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
        reference_shares = np.histogram(reference, edges)[0] / reference.size
        current_shares = np.histogram(current, edges)[0] / current.size
    else:
        _, reference_counts, current_counts = value_counts(reference, current)
        reference_shares = reference_counts / reference.size
        current_shares = current_counts / current.size
    if fill_empty:
        for shares in (reference_shares, current_shares):
            smallest = shares[shares != 0].min()
            shares[shares == 0] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return reference_shares, current_shares


def ks_test(reference, current, kind):
    return stats.ks_2samp(reference, current).pvalue


def wasserstein_test(reference, current, kind):
    return stats.wasserstein_distance(reference, current) / max(np.std(reference), 0.001)


def chisquare_test(reference, current, kind):
    _, reference_counts, current_counts = value_counts(reference, current)
    expected = reference_counts * (current.size / reference.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        return stats.chisquare(current_counts, expected).pvalue


def z_test(reference, current, kind):
    keys, reference_counts, current_counts = value_counts(reference, current)
    if keys.size == 1:
        return 1.0
    n1, n2 = reference.size, current.size
    p1 = (n1 - reference_counts[0]) / n1
    p2 = (n2 - current_counts[0]) / n2
    pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    # Evidently computes 1 - cdf, not the survival function, so tiny p-values become 0 as they do there.
    return 2 * (1 - stats.norm.cdf(abs(z)))


def jensenshannon_test(reference, current, kind):
    reference_shares, current_shares = binned_shares(reference, current, kind, fill_empty=False)
    return distance.jensenshannon(reference_shares, current_shares)


def psi_test(reference, current, kind):
    reference_shares, current_shares = binned_shares(reference, current, kind, fill_empty=True)
    return np.sum((reference_shares - current_shares) * np.log(reference_shares / current_shares))


def hellinger_test(reference, current, kind):
    if kind == "categorical":
        _, reference_counts, current_counts = value_counts(reference, current)
        coefficient = np.sum(np.sqrt(reference_counts / reference.size * (current_counts / current.size)))
    else:
        # Evidently bins the distinct values of both samples, not all values.
        distinct = np.union1d(np.unique(reference), np.unique(current))
        edges = np.histogram_bin_edges(distinct, bins="sturges")
        reference_density = np.histogram(reference, edges, density=True)[0]
        current_density = np.histogram(current, edges, density=True)[0]
        width = (edges[-1] - edges[0]) / (edges.size - 1)
        coefficient = np.sum(np.sqrt(reference_density * current_density) * width)
    return math.sqrt(1 - min(1.0, max(0.0, coefficient)))


SCIPY_TESTS = {
    "ks": ks_test,
    "wasserstein": wasserstein_test,
    "chisquare": chisquare_test,
    "z": z_test,
    "jensenshannon": jensenshannon_test,
    "psi": psi_test,
    "hellinger": hellinger_test,
}


def union_more_distinct_than(reference, current, limit):
    """Tell whether both samples together have more than limit distinct values."""
    if np.unique(reference[:1024]).size > limit:
        return True
    return np.union1d(np.unique(reference), np.unique(current)).size > limit


def automatic_test(reference, current, kind):
    """Evidently 0.7's default test for a column (registry._get_default_stattest)."""
    many = kind == "numerical" and union_more_distinct_than(reference, current, 5)
    if reference.size <= LARGE_REFERENCE_ROWS:
        if many:
            return "ks"
        return "z" if not union_more_distinct_than(reference, current, 2) else "chisquare"
    return "wasserstein" if many else "jensenshannon"


def run_scipy_pass(manifest, reference, current, mode):
    """Run every feature's test once, returning per-feature (test, seconds, score) and the pass's total seconds."""
    results = []
    start = time.perf_counter()
    for index, feature in enumerate(manifest["features"]):
        begin = time.perf_counter()
        reference_values = reference[index][~np.isnan(reference[index])]
        current_values = current[index][~np.isnan(current[index])]
        test = feature["test"] if mode == "forced" else automatic_test(reference_values, current_values,
                                                                       feature["type"])
        score = float(SCIPY_TESTS[test](reference_values, current_values, feature["type"]))
        results.append({"name": feature["name"], "test": test, "seconds": time.perf_counter() - begin,
                        "score": score})
    return results, time.perf_counter() - start


def time_scipy(manifest, reference, current, repeats):
    modes = {}
    for mode in ["forced", "automatic"]:
        passes = [run_scipy_pass(manifest, reference, current, mode) for _ in range(repeats)]
        features = []
        for index, first in enumerate(passes[0][0]):
            features.append({**first, "seconds": [results[index]["seconds"] for results, _ in passes]})
        modes[mode] = {"features": features, "totalSeconds": [total for _, total in passes]}
    return modes


def evidently_frames(manifest, reference, current):
    """Build Evidently's Datasets. Categorical codes stay float64, so both sides test the same values."""
    import pandas as pd
    from evidently import DataDefinition, Dataset

    names = [feature["name"] for feature in manifest["features"]]
    definition = DataDefinition(
        numerical_columns=[f["name"] for f in manifest["features"] if f["type"] == "numerical"],
        categorical_columns=[f["name"] for f in manifest["features"] if f["type"] == "categorical"],
    )
    reference_frame = pd.DataFrame(dict(zip(names, reference)), copy=False)
    current_frame = pd.DataFrame(dict(zip(names, current)), copy=False)
    return (Dataset.from_pandas(reference_frame, data_definition=definition),
            Dataset.from_pandas(current_frame, data_definition=definition))


def test_names_by_display_name():
    """Map Evidently's display names ("Wasserstein distance (normed)"), which an automatic choice reports, to test names."""
    from evidently.legacy.calculations.stattests import (chi_stat_test, hellinger_stat_test, jensenshannon_stat_test,
                                                         ks_stat_test, psi_stat_test, wasserstein_stat_test,
                                                         z_stat_test)

    tests = [chi_stat_test, hellinger_stat_test, jensenshannon_stat_test, ks_stat_test, psi_stat_test,
             wasserstein_stat_test, z_stat_test]
    return {test.display_name: test.name for test in tests}


def value_drift_results(snapshot):
    """Map column name to (test name, score) from the ValueDrift metrics of a snapshot."""
    names = test_names_by_display_name()
    results = {}
    for metric in snapshot.dict()["metrics"]:
        config = metric["config"]
        if config["type"] == "evidently:metric_v2:ValueDrift":
            results[config["column"]] = (names.get(config["method"], config["method"]), float(metric["value"]))
    return results


def time_evidently(manifest, reference_dataset, current_dataset):
    from evidently import Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    modes = {}
    for mode in ["forced", "automatic"]:
        features = []
        for feature in manifest["features"]:
            method = feature["test"] if mode == "forced" else None
            report = Report([ValueDrift(column=feature["name"], method=method)])
            begin = time.perf_counter()
            snapshot = report.run(current_dataset, reference_dataset)
            seconds = time.perf_counter() - begin
            test, score = value_drift_results(snapshot)[feature["name"]]
            features.append({"name": feature["name"], "test": test, "seconds": [seconds], "score": score})

        per_column = {f["name"]: f["test"] for f in manifest["features"]} if mode == "forced" else None
        report = Report([DataDriftPreset(per_column_method=per_column)])
        begin = time.perf_counter()
        snapshot = report.run(current_dataset, reference_dataset)
        preset_seconds = time.perf_counter() - begin
        preset = value_drift_results(snapshot)
        modes[mode] = {
            "features": features,
            "totalSeconds": [sum(f["seconds"][0] for f in features)],
            "presetSeconds": preset_seconds,
            "preset": {name: {"test": test, "score": score} for name, (test, score) in preset.items()},
        }
    return modes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["generate", "scipy", "evidently"])
    parser.add_argument("--data", type=Path, required=True, help="folder of the data files")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per side (generate)")
    parser.add_argument("--seed", type=int, default=20260509, help="seed of the generated data (generate)")
    parser.add_argument("--repeats", type=int, default=3, help="passes per mode for scipy (Evidently runs once)")
    parser.add_argument("--output", type=Path, help="JSON file for the timings (scipy, evidently)")
    args = parser.parse_args()

    if args.command == "generate":
        if args.rows < 2:
            raise SystemExit(f"Invalid --rows {args.rows}: expected at least 2.")
        generate(args.data, args.rows, args.seed)
        return
    if args.output is None:
        raise SystemExit(f"Missing --output: the {args.command} subcommand writes its timings to a JSON file.")
    if args.repeats < 1:
        raise SystemExit(f"Invalid --repeats {args.repeats}: expected at least 1.")

    # scipy warns on the infinite chi-square terms of unseen categories and Evidently on its own internals.
    warnings.simplefilter("ignore")
    begin = time.perf_counter()
    manifest, reference, current = load(args.data)
    load_seconds = time.perf_counter() - begin
    packages = ["numpy", "scipy"] + (["pandas", "evidently"] if args.command == "evidently" else [])
    output = {
        "engine": args.command,
        "python": platform.python_version(),
        "versions": {package: version(package) for package in packages},
        "rows": manifest["rows"],
        "loadSeconds": load_seconds,
    }
    if args.command == "scipy":
        output["modes"] = time_scipy(manifest, reference, current, args.repeats)
    else:
        begin = time.perf_counter()
        reference_dataset, current_dataset = evidently_frames(manifest, reference, current)
        output["prepareSeconds"] = time.perf_counter() - begin
        output["modes"] = time_evidently(manifest, reference_dataset, current_dataset)
    output["peakRssBytes"] = peak_rss_bytes()
    args.output.write_text(json.dumps(output, indent=2, allow_nan=False) + "\n")
    print(f"Wrote {args.output} ({args.command}, {manifest['rows']} rows).", file=sys.stderr)


if __name__ == "__main__":
    main()
