#!/usr/bin/env python3
"""Medians of repeated `rulebox-bench --csv` runs, as Markdown tables (one per experiment).

    python3 tests/bench_median.py run1.csv run2.csv run3.csv

Each figure is the median over the runs of that row's figure (rows are matched by
experiment, case and variant); `runs` says how many runs had the row, then the range of
events/s and p99 over the runs. Notes are the first run's.
"""

import csv
import statistics
import sys
from collections import OrderedDict

FIELDS = ["median_us", "p99_us", "per_s", "ratio"]


def main(paths):
    rows = OrderedDict()
    for path in paths:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                key = (r["experiment"], r["case"], r["variant"])
                entry = rows.setdefault(key, {"runs": [], "note": r["note"], "samples": r["samples"]})
                entry["runs"].append(r)
    experiments = OrderedDict()
    for key, entry in rows.items():
        experiments.setdefault(key[0], []).append((key, entry))
    for experiment, items in experiments.items():
        print(f"\n#### {experiment}\n")
        print("| case | variant | n | median µs | p99 µs | per s | ratio | runs | per s, p99 µs: min–max over runs | note |")
        print("|---|---|--:|--:|--:|--:|--:|--:|--:|---|")
        for (_, case, variant), entry in items:
            cells = []
            for field in FIELDS:
                values = [float(r[field]) for r in entry["runs"] if r[field] != ""]
                cells.append(fmt(statistics.median(values)) if values else "")
            spread = []
            for field in ["per_s", "p99_us"]:
                values = [float(r[field]) for r in entry["runs"] if r[field] != ""]
                if len(values) > 1:
                    spread.append(f"{fmt(min(values))}–{fmt(max(values))}")
            note = entry["note"].replace("|", "\\|")
            print(f"| {case} | {variant} | {entry['samples']} | " + " | ".join(cells)
                  + f" | {len(entry['runs'])} | {'; '.join(spread)} | {note} |")


def fmt(v):
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


if __name__ == "__main__":
    main(sys.argv[1:])
