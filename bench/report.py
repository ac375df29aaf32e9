"""``var/bench.json``: every benchmark's figures, written by ``make bench``.

Each benchmark replaces its own entry (its name → rows of measure, figure, baseline, verdict)
and leaves the others, so the file holds the latest figures of every benchmark that ran.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path

REPORT = Path(__file__).resolve().parents[1] / "var" / "bench.json"


def bench_report_write(name: str, rows: Sequence[Sequence[str]]) -> Path:
    """Record ``rows`` under ``name`` in ``var/bench.json``; returns the file's path."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    try:
        report = json.loads(REPORT.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        report = {}
    report[name] = {
        "at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": [
            {"measure": row[0], "figure": row[1], "against": row[2], "verdict": row[3]}
            for row in rows
        ],
    }
    REPORT.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return REPORT


def bench_table_print(name: str, rows: Sequence[Sequence[str]], seconds: float) -> None:
    """Print the figures as an aligned table and record them in ``var/bench.json``."""
    print(f"\n=== {name} ({seconds:.0f} s)")
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for measure, figure, against, verdict in rows:
        print(f"{measure:<{widths[0]}}  {figure:<{widths[1]}}  {against:<{widths[2]}}  {verdict}")
    print(f"(written to {bench_report_write(name, rows)})")
