"""Query parameters: the values a client method accepts and the pairs httpx sends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

#: Query parameter values: a scalar, or a sequence for repeated keys such as ``fields[]``.
ParamValue = str | int | float | bool | Sequence[str | int]
Params = Mapping[str, ParamValue]


def query_pairs(
    params: Params | None, extra: Mapping[str, ParamValue] | None = None
) -> list[tuple[str, str]]:
    """``params`` then ``extra`` as ``(key, text)`` pairs, a sequence as repeated keys."""
    pairs: list[tuple[str, str]] = []
    for source in (params or {}), (extra or {}):
        for key, value in source.items():
            if isinstance(value, str | int | float | bool):
                pairs.append((key, _param_text(value)))
            else:
                pairs.extend((key, _param_text(item)) for item in value)
    return pairs


def _param_text(value: str | int | float | bool) -> str:
    # Copernica reads "true"/"false", not Python's "True"/"False".
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
