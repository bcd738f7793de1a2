#!/usr/bin/env python3
"""Write ks-expected.json: SciPy's two-sample KS results and Evidently-style PSI for seeded samples.

The TypeScript tests (analyzers/src/stats/*.test.ts) regenerate the same samples with
src/testing/seeded-samples.ts and compare their results with the values written here.

Usage (from the repository root):
    python3 -m venv /tmp/venv && /tmp/venv/bin/pip install scipy numpy
    /tmp/venv/bin/python analyzers/reference/make_expectations.py
"""

import json
import math
from pathlib import Path

import numpy as np
import scipy
from scipy import stats

MODULUS = 4294967296


def generate_sample(spec):
    """Mirror generateSample() of seeded-samples.ts: an LCG, the mean of `terms` uniforms, optional flooring."""
    state = spec["seed"] % MODULUS
    values = []
    for _ in range(spec["n"]):
        total = 0.0
        for _ in range(spec["terms"]):
            state = (state * 1664525 + 1013904223) % MODULUS
            total += state / MODULUS
        value = spec["shift"] + spec["scale"] * (total / spec["terms"])
        quantum = spec.get("quantum")
        values.append(value if quantum is None else math.floor(value / quantum) * quantum)
    return values


def spec(seed, n, shift=0.0, scale=1.0, terms=3, quantum=None):
    result = {"seed": seed, "n": n, "shift": shift, "scale": scale, "terms": terms}
    if quantum is not None:
        result["quantum"] = quantum
    return result


def evidently_psi(reference, current):
    """Evidently's numerical PSI: Sturges edges over both samples, empty shares set to 0.0001."""
    reference = np.asarray(reference)
    current = np.asarray(current)
    edges = np.histogram_bin_edges(np.concatenate([reference, current]), bins="sturges")
    reference_shares = np.histogram(reference, edges)[0] / len(reference)
    current_shares = np.histogram(current, edges)[0] / len(current)
    np.place(reference_shares, reference_shares == 0, 0.0001)
    np.place(current_shares, current_shares == 0, 0.0001)
    value = np.sum((reference_shares - current_shares) * np.log(reference_shares / current_shares))
    return float(value), len(edges) - 1


KS_CASES = [
    ("tiny unequal sizes", spec(1, 5), spec(2, 7)),
    ("equal sizes same distribution", spec(3, 10), spec(4, 10)),
    ("equal sizes shifted", spec(5, 30), spec(6, 30, shift=0.25)),
    ("drift window vs reference", spec(7, 15, scale=0.4), spec(8, 45, scale=0.4, shift=0.4)),
    ("stable window vs reference", spec(9, 15, scale=0.4), spec(10, 45, scale=0.4)),
    ("ties from rounding", spec(11, 40, quantum=0.05), spec(12, 55, shift=0.05, quantum=0.05)),
    ("very small p-value", spec(13, 200), spec(14, 300, shift=0.3)),
    ("coprime medium sizes", spec(15, 997), spec(16, 1009, shift=0.02)),
    ("largest exact size", spec(17, 400), spec(18, 10000, shift=0.03)),
    ("asymptotic large samples", spec(19, 12000), spec(20, 4000, shift=0.02)),
    ("asymptotic no shift", spec(21, 15000), spec(22, 10001)),
    ("small window vs large reference", spec(23, 50, shift=0.1), spec(24, 20000)),
    ("small stable window vs large reference", spec(25, 60), spec(26, 12000)),
    ("medium window vs large reference", spec(27, 400, shift=0.03), spec(28, 30000)),
    ("equal odd sizes round half to even", spec(29, 10001), spec(30, 10001, shift=0.01)),
]

# (n, x) points of the one-sample finite-n distribution that reach every method of scipy's kstwo.sf.
KSTWO_POINTS = [
    (n, x)
    for n in [5, 20, 60, 140, 141, 500, 3000, 6000, 20000]
    for x in [0.6 / n, 0.9 / n, 0.02, 0.05, 0.08, 0.1, 0.2, 0.3, 0.5, 0.7, 1 - 1.5 / n]
    if 0 < x < 1
]

PSI_CASES = [
    ("stable", spec(31, 45, scale=0.4), spec(32, 15, scale=0.4)),
    ("shifted", spec(33, 45, scale=0.4), spec(34, 15, scale=0.4, shift=0.4)),
    ("power of two pooled size", spec(35, 48), spec(36, 16, shift=0.1)),
    ("single value", spec(37, 5, scale=0.0, shift=0.5), spec(38, 5, scale=0.0, shift=0.5)),
    ("large", spec(39, 5000), spec(40, 3000, shift=0.05)),
]

ENTROPY_PROBABILITIES = [0.0, 1e-12, 0.01, 0.2, 0.41, 0.5, 0.59, 0.8, 0.999, 1.0]


def main():
    ks = []
    for name, first, second in KS_CASES:
        sample1 = generate_sample(first)
        sample2 = generate_sample(second)
        result = stats.ks_2samp(sample1, sample2, alternative="two-sided", method="auto")
        n1, n2 = len(sample1), len(sample2)
        ks.append({
            "name": name,
            "sample1": first,
            "sample2": second,
            "statistic": float(result.statistic),
            "pValue": float(result.pvalue),
            "method": "exact" if max(n1, n2) <= 10000 else "asymptotic",
        })

    psi = []
    for name, reference, current in PSI_CASES:
        value, bins = evidently_psi(generate_sample(reference), generate_sample(current))
        psi.append({"name": name, "reference": reference, "current": current, "value": value, "bins": bins})

    entropy = [
        {"probability": p, "entropyBits": float(stats.entropy([p, 1.0 - p], base=2))}
        for p in ENTROPY_PROBABILITIES
    ]

    kstwo = [{"n": n, "x": x, "survival": float(stats.kstwo.sf(x, n))} for n, x in KSTWO_POINTS]

    output = {
        "generator": "analyzers/reference/make_expectations.py",
        "scipy": scipy.__version__,
        "numpy": np.__version__,
        "ks": ks,
        "kstwo": kstwo,
        "psi": psi,
        "entropy": entropy,
    }
    path = Path(__file__).with_name("ks-expected.json")
    path.write_text(json.dumps(output, indent=2) + "\n")
    print(f"Wrote {path} with {len(ks)} KS, {len(kstwo)} kstwo, {len(psi)} PSI and {len(entropy)} entropy cases.")


if __name__ == "__main__":
    main()
