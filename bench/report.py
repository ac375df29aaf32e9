"""``var/bench.json``: every benchmark's figures, one object per figure, written by ``make bench``.

Each figure is ``{"bench", "name", "value", "unit", "baseline", "ratio", "goal", "met", "at"}``;
``baseline`` is the figure measured against in the same run (``ratio`` = value / baseline),
``goal`` says what the figure must meet and ``met`` whether it did (``null`` without a goal).

A benchmark replaces its own figures and leaves the others', so the benches ``make bench`` runs
one after another land in one file (``scripts/bench.sh`` moves the previous run's file to
``var/bench.previous.json`` first, to compare run to run). A bench that builds :class:`Figure`
objects passes them as ``figures=``; one that prints only text rows (measure, figure, against,
verdict) gets its figures read from the text: the first number of *figure* with its unit, the
``goal <= 1.3x`` written in the row, and ``met`` from "goal met" / "goal NOT met".

    uv run python bench/report.py     prints every goal of the last run with met / not met
"""

from __future__ import annotations

import fcntl
import json
import math
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPORT = Path(__file__).resolve().parents[1] / "var" / "bench.json"


@dataclass(frozen=True)
class Figure:
    """One measured figure, its baseline from the same run and its goal."""

    name: str
    value: float
    unit: str
    baseline: float | str | None = None
    ratio: float | None = None
    goal: str = ""
    met: bool | None = None


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    at_most: float | None = None,
    at_least: float | None = None,
    goal: str = "",
    met: bool | None = None,
) -> Figure:
    """A figure with its ratio to ``baseline``; ``at_most`` / ``at_least`` bound the ratio when
    there is a baseline, else the value. ``goal`` and ``met`` given override the derived ones
    (for a goal with a second condition, such as "and the same query count")."""
    ratio = value / baseline if baseline else None
    measured = ratio if ratio is not None else value
    suffix = "x" if ratio is not None else f" {unit}"
    derived_goal, derived_met = "", None
    if at_most is not None:
        derived_goal, derived_met = f"<= {at_most:g}{suffix}", measured <= at_most
    elif at_least is not None:
        derived_goal, derived_met = f">= {at_least:g}{suffix}", measured >= at_least
    return Figure(
        name=name,
        value=value,
        unit=unit,
        baseline=baseline,
        ratio=ratio,
        goal=goal or derived_goal,
        met=met if met is not None else derived_met,
    )


# ------------------------------------------------------------------------------ text rows

_NUMBER = r"[-+]?\d[\d,]*(?:\.\d+)?"
_VALUE = re.compile(rf"({_NUMBER})\s*(%|x\b|[A-Za-z/µ]+)?")
_GOAL = re.compile(rf"goal\s*((?:<=|>=|<|>|=)\s*{_NUMBER}\s*(?:%|x|[A-Za-z/]+)?)")
_RATIO = re.compile(rf"({_NUMBER})x\b")
_SHARE = re.compile(rf"({_NUMBER})%")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def goal_verdict(met: bool) -> str:
    """How a text row says whether its goal was met: the words :func:`figure_from_row` reads."""
    return "goal met" if met else "goal NOT met"


def figure_from_row(row: Sequence[str]) -> Figure:
    """A figure read from a text row (measure, figure, against, verdict), as well as text says."""
    measure, shown, against, verdict = [*row, "", "", "", ""][:4]
    match = _VALUE.search(shown)
    value = _number(match.group(1)) if match else math.nan
    unit = (match.group(2) or "") if match else ""
    goal = _GOAL.search(f"{against} {verdict}")
    met: bool | None = None
    if "goal NOT met" in f"{shown} {against} {verdict}":
        met = False
    elif "goal met" in f"{shown} {against} {verdict}":
        met = True
    ratio: float | None = None
    share = _SHARE.search(f"{against} {verdict}")
    if unit == "x":
        ratio = value
    elif goal and goal.group(1).endswith("%") and share:
        ratio = _number(share.group(1)) / 100  # "8.0% of the page phase"
    else:
        found = _RATIO.search(verdict) or _RATIO.search(against)
        ratio = _number(found.group(1)) if found else None
    return Figure(
        name=measure,
        value=value,
        unit=unit,
        baseline=None if against.startswith("goal") else against or None,
        ratio=ratio,
        goal=goal.group(1) if goal else "",
        met=met,
    )


# ------------------------------------------------------------------------------- the file


@contextmanager
def _locked() -> Iterator[None]:
    """One writer at a time: two benches run side by side still both land in the file."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    with open(REPORT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def bench_report_read(path: Path = REPORT) -> list[dict[str, Any]]:
    """The figures in ``path`` (none when it is missing, unreadable or of the old shape)."""
    try:
        figures = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return [f for f in figures if isinstance(f, dict)] if isinstance(figures, list) else []


def bench_report_write(
    name: str, rows: Sequence[Sequence[str]], *, figures: Sequence[Figure] | None = None
) -> Path:
    """Record the figures of bench ``name`` in ``var/bench.json`` (``figures``, else read from
    ``rows``), replacing that bench's earlier ones; returns the file's path."""
    chosen = list(figures) if figures is not None else [figure_from_row(row) for row in rows]
    at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    entries = [{"bench": name, **_json_safe(asdict(f)), "at": at} for f in chosen]
    with _locked():
        kept = [f for f in bench_report_read() if f.get("bench") != name]
        REPORT.write_text(json.dumps(kept + entries, indent=2, ensure_ascii=False) + "\n")
    return REPORT


def _json_safe(values: dict[str, Any]) -> dict[str, Any]:
    # NaN is not JSON: a figure the text did not give is null.
    return {
        key: None if isinstance(value, float) and not math.isfinite(value) else value
        for key, value in values.items()
    }


def _shown(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def figure_line(item: Figure | dict[str, Any]) -> str:
    """``name: value unit, ratio x its baseline (baseline unit)``."""
    f = asdict(item) if isinstance(item, Figure) else item
    value, baseline = f.get("value"), f.get("baseline")
    unit = f.get("unit") or ""
    shown = "?" if value is None else f"{_shown(value)} {unit}".rstrip()
    if f.get("ratio") is not None and unit != "x":
        against = f"{_shown(baseline)} {unit}".rstrip() if isinstance(baseline, float | int) else ""
        shown += f", {f['ratio']:.2f}x its baseline" + (f" ({against})" if against else "")
    bench = f"[{f['bench']}] " if f.get("bench") else ""
    return f"{bench}{f.get('name')}: {shown}"


def goal_line(item: Figure | dict[str, Any]) -> str:
    """``name: value unit (ratio against baseline); goal ...: met / NOT met``."""
    f = asdict(item) if isinstance(item, Figure) else item
    verdict = {True: "met", False: "NOT met", None: "no verdict"}[f.get("met")]
    return f"{figure_line(f)}; goal {f.get('goal')}: {verdict}"


def bench_table_print(
    name: str,
    rows: Sequence[Sequence[str]],
    seconds: float,
    *,
    figures: Sequence[Figure] | None = None,
) -> None:
    """Print the figures as an aligned table, each goal with met / not met, and record them in
    ``var/bench.json``."""
    print(f"\n=== {name} ({seconds:.0f} s)")
    recorded = list(figures) if figures is not None else [figure_from_row(row) for row in rows]
    if rows:
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for measure, shown, against, verdict in rows:
            print(
                f"{measure:<{widths[0]}}  {shown:<{widths[1]}}  {against:<{widths[2]}}  {verdict}"
            )
    else:
        for item in recorded:
            print(figure_line(item))
    for item in recorded:
        if item.goal:
            print("GOAL " + goal_line(item))
    print(f"(written to {bench_report_write(name, rows, figures=figures)})")


def main() -> int:
    """Print every goal of the file with met / not met; exit 1 if the file has no figures."""
    figures = bench_report_read()
    if not figures:
        print(f"No figures in {REPORT}.")
        return 1
    goals = [f for f in figures if f.get("goal")]
    print(f"\n=== goals ({len(goals)} in {REPORT})")
    for item in goals:
        print(goal_line(item))
    met = sum(1 for f in goals if f.get("met") is True)
    print(f"{met} of {len(goals)} goals met.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
