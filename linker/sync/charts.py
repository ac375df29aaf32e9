"""The tenant page's two charts: profiles fetched and time taken by each of the last runs.

Bars rather than a line: each run is its own amount (an incremental run fetches a few changed
profiles, a full run all of them), and one run is still a readable chart. The scale starts at
zero and ends at a round value just above the highest bar, with its ticks labelled; the page
draws the labels as text beside the SVG, so they keep their size on a phone while the bars
stretch to the width.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from linker.models import Link, SyncMode, SyncRun, SyncState

CHART_RUNS = 30
_FINISHED = (SyncState.SUCCEEDED, SyncState.FAILED)


@dataclass(frozen=True)
class Bar:
    x: float  # left edge, in the chart's 0..100 wide view box
    width: float
    height: float  # 0..100, from the bottom
    y: float  # its top edge, in the view box (SVG counts from the top)
    label: str  # what a tooltip says: when, what kind, the value
    kind: str  # "full", "incremental" or "failed": the bar's colour
    run_id: int


@dataclass(frozen=True)
class Tick:
    label: str
    bottom: float  # percent of the chart's height from the bottom


@dataclass(frozen=True)
class BarChart:
    title: str
    unit_label: str  # the y axis' name, e.g. "profiles" or "seconds"
    bars: list[Bar]
    ticks: list[Tick]  # bottom to top, 0 first
    first_label: str  # the x axis: the oldest run, the newest run
    last_label: str
    summary: str  # for screen readers: the range and the highest value

    @property
    def ticks_top_down(self) -> list[Tick]:
        return self.ticks[::-1]


def nice_ceiling(value: float) -> float:
    """The round number (1, 2, 3, 4, 5, 6 or 8 times a power of ten) at or just above
    ``value``: its half, the middle tick, is round too."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if value <= step * power * (1 + 1e-9):
            return round(step * power, 12)  # 3 * 0.1 is 0.30000000000000004
    return 10.0 * power  # pragma: no cover - the loop ends at 10


def _count(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.1f}"


def _moment(value: datetime) -> str:
    return timezone.localtime(value).strftime("%-d %b %H:%M")


def _chart(
    *,
    title: str,
    unit_label: str,
    runs: list[SyncRun],
    values: list[float],
    fmt: Callable[[float], str],
) -> BarChart | None:
    if not runs:
        return None
    top = nice_ceiling(max(values))
    slot = 100.0 / len(runs)
    gap = min(slot * 0.2, 1.0)
    bars = []
    for i, (run, value) in enumerate(zip(runs, values, strict=True)):
        failed = run.state == SyncState.FAILED
        kind = "failed" if failed else ("full" if run.mode == SyncMode.FULL else "incremental")
        what = run.get_mode_display().lower() + (" (failed)" if failed else "")
        # A run that fetched nothing still shows as a sliver, so no run goes missing.
        height = round(max(100.0 * value / top, 0.6), 3)
        bars.append(
            Bar(
                x=round(i * slot + gap / 2, 3),
                width=round(slot - gap, 3),
                height=height,
                y=round(100.0 - height, 3),
                label=f"{_moment(run.finished_at or run.queued_at)}, {what}: {fmt(value)}",
                kind=kind,
                run_id=run.pk,
            )
        )
    ticks = [Tick(fmt(top * share), round(100 * share, 1)) for share in (0.0, 0.5, 1.0)]
    first = _moment(runs[0].finished_at or runs[0].queued_at)
    last = _moment(runs[-1].finished_at or runs[-1].queued_at)
    return BarChart(
        title=title,
        unit_label=unit_label,
        bars=bars,
        ticks=ticks,
        first_label=first,
        last_label=last,
        summary=f"{title}: {len(runs)} run{'s' if len(runs) != 1 else ''} from {first} to "
        f"{last}, highest {fmt(max(values))}.",
    )


def sync_chart_list(*, link: Link) -> list[BarChart]:
    """The charts of the last ``CHART_RUNS`` finished runs of ``link``, oldest first (one query)."""
    runs = list(
        SyncRun.objects.filter(link=link, state__in=_FINISHED, started_at__isnull=False)
        .exclude(finished_at=None)
        .only("id", "mode", "state", "queued_at", "started_at", "finished_at", "fetched")
        .order_by("-finished_at", "-id")[:CHART_RUNS]
    )[::-1]
    if not runs:
        return []
    fetched = [float(run.fetched) for run in runs]
    seconds = [
        max((run.finished_at - run.started_at).total_seconds(), 0.0)  # type: ignore[operator]
        for run in runs
    ]
    # One unit for the whole axis, so that its round ticks stay round: 250 s reads "5 min".
    longest = max(seconds)
    unit, per, name = (
        ("h", 3600, "hours")
        if longest >= 3 * 3600
        else ("min", 60, "minutes")
        if longest >= 180
        else ("s", 1, "seconds")
    )
    charts = [
        _chart(
            title="Profiles fetched per sync",
            unit_label="profiles",
            runs=runs,
            values=fetched,
            fmt=_count,
        ),
        _chart(
            title="Time per sync",
            unit_label=name,
            runs=runs,
            values=[value / per for value in seconds],
            fmt=lambda value: f"{_count(value)} {unit}",
        ),
    ]
    return [chart for chart in charts if chart is not None]
