"""How a first check grows with the business: `large` × 1, 2, 4 and 10, each against its floor.

For each scale a fresh simulator serves the `large` business with every size multiplied, the
floor (the people cursor alone) is measured, and a first check runs on a fresh SQLite database
(PostgreSQL too with --postgres). Printed: seconds, the ratio to the floor, peak RSS and the
RSS above the child's own base, then the fitted exponents (least squares on log-log):
time against scale (target ≤ 1.05) and memory above the base (target < 1: sublinear).

Run: .venv/bin/python benchmarks/scale.py [--scales 1,2,4,10] [--latency-ms 50] [--postgres URL]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from check import Row, run_backend, start_simulator


def exponent(xs: list[float], ys: list[float]) -> float:
    """The slope of log(y) against log(x)."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(points) < 2:
        return float("nan")
    mean_x = sum(p[0] for p in points) / len(points)
    mean_y = sum(p[1] for p in points) / len(points)
    spread = sum((p[0] - mean_x) ** 2 for p in points)
    return sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / spread


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scales", default="1,2,4,10")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--postgres", default=os.environ.get("BASTION_TEST_DATABASE_URL"))
    args = parser.parse_args()
    scales = [float(x) for x in args.scales.split(",") if x.strip()]
    backends = [("SQLite", None)] + ([("PostgreSQL", args.postgres)] if args.postgres else [])
    rows: dict[str, list[tuple[float, Row]]] = {name: [] for name, _ in backends}
    for scale in scales:
        sim = start_simulator(scale)
        try:
            for name, url in backends:
                (row,) = run_backend(sim, name, url, args.latency_ms, scale, recheck=False)
                rows[name].append((scale, row))
        finally:
            sim.stop()
    print(f"\nfirst check of large × scale, {args.latency_ms} ms latency")
    header = (
        f"{'database':<11} {'scale':>5} {'floor s':>7} {'check s':>7} {'ratio':>6} "
        f"{'peak MB':>7} {'above base MB':>13} {'graph ops':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, measured in rows.items():
        for scale, row in measured:
            r = row.result
            print(
                f"{name:<11} {scale:>5g} {row.floor:>7.2f} {r['wall']:>7.2f} {row.ratio:>6.2f} "
                f"{r['rss_mb']:>7.0f} {r['rss_mb'] - r['base_rss_mb']:>13.0f} "
                f"{r['graph_operations']:>9}"
            )
        xs = [scale for scale, _ in measured]
        time_exp = exponent(xs, [row.result["wall"] for _, row in measured])
        memory_exp = exponent(
            xs, [row.result["rss_mb"] - row.result["base_rss_mb"] for _, row in measured]
        )
        print(
            f"{name}: time exponent {time_exp:.2f} (target ≤ 1.05), memory above base "
            f"exponent {memory_exp:.2f} (target < 1)"
        )


if __name__ == "__main__":
    main()
