"""Refuse to serve or work with a key ring that cannot read the stored secrets."""

from __future__ import annotations

import sys


def require_usable_keys() -> None:
    from linker.checks import key_problem

    problem = key_problem()
    if problem:
        sys.exit(f"Copernica Linker cannot start: {problem}")
