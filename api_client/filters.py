"""Copernica's ``fields[]`` filter expressions, parsed the way the live API parses them.

Both the client (to refuse filters Copernica would silently ignore) and the sandbox (to
evaluate them) use this module, so the two cannot drift apart.

Rules (copernica-api.md §4, observed on the live API): the whole expression is trimmed; the
field name is everything before the first operator and is compared case-insensitively but
*not* trimmed (``"name ==x"`` names the field ``"name "``, which does not exist, so the
filter is ignored); the value is everything after the operator, untrimmed on the left.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

#: The operators Copernica understands, longest first so ``<=`` wins over ``<``.
OPERATORS: tuple[str, ...] = ("==", "!=", "<>", "<=", ">=", "=~", "!~", "<", ">")

#: Fields every database filters on, whether or not it defines them.
SPECIAL_FIELDS: frozenset[str] = frozenset({"id", "code", "modified"})

_EXPRESSION = re.compile(r"^([^=!<>~]+?)(==|!=|<>|<=|>=|=~|!~|<|>)(.*)$", re.DOTALL)


@dataclass(frozen=True)
class FieldFilter:
    """One parsed ``fields[]`` expression: ``field``, ``operator`` and the raw ``value``."""

    field: str
    operator: str
    value: str

    def expression(self) -> str:
        """The expression as it goes on the wire."""
        return f"{self.field}{self.operator}{self.value}"


def parse_filter(expression: str) -> FieldFilter | None:
    """Parse one expression; ``None`` when Copernica would not understand it (and ignore it)."""
    match = _EXPRESSION.match(expression.strip())
    if match is None:
        return None
    field, operator, value = match.groups()
    return FieldFilter(field, operator, value)


def filter_expressions(filters: Mapping[str, object] | Sequence[str] | str) -> list[str]:
    """Normalise a caller's filter into wire expressions.

    A mapping ``{"email": "a@b.nl"}`` becomes ``["email==a@b.nl"]``; a sequence of
    expressions is passed through; a single string is one expression.
    """
    if isinstance(filters, str):
        return [filters]
    if isinstance(filters, Mapping):
        return [f"{name}=={value}" for name, value in filters.items()]
    return [str(expression) for expression in filters]


def unsafe_expressions(expressions: Sequence[str], field_names: Sequence[str]) -> list[str]:
    """The expressions Copernica would silently ignore for a database with ``field_names``.

    An expression is ignored when it does not parse or names neither a field of the database
    nor one of the special fields ``id``, ``code`` and ``modified``.
    """
    known = {name.lower() for name in field_names} | SPECIAL_FIELDS
    unsafe = []
    for expression in expressions:
        parsed = parse_filter(expression)
        if parsed is None or parsed.field.lower() not in known:
            unsafe.append(expression)
    return unsafe
