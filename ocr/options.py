"""Checking option values where they enter, so that a wrong one is named in one line."""

from __future__ import annotations

import math


def check_number(
    name: str,
    value,
    kind: type = float,
    minimum: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    optional: bool = False,
) -> None:
    """Raise a ValueError naming the option unless ``value`` is a number of ``kind``
    (``int``: a whole number; ``float``: any finite number) in the range given
    (``minimum``/``maximum`` inclusive, ``below`` exclusive); None passes if ``optional``."""
    if value is None and optional:
        return
    whole = isinstance(value, int) and not isinstance(value, bool)
    number = whole or (isinstance(value, float) and math.isfinite(value))
    if not number or (kind is int and not whole):
        what = "a whole number" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}{_range(minimum, maximum, below)}, got {value!r}")
    if (
        (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
        or (below is not None and value >= below)
    ):
        raise ValueError(f"{name} must be{_range(minimum, maximum, below)}, got {value!r}")


def check_numbers(prefix: str, **options: tuple) -> None:
    """``check_number`` for each ``name=(value, kind, minimum)``, named ``prefix.name``."""
    for name, (value, kind, minimum) in options.items():
        check_number(f"{prefix}.{name}", value, kind, minimum=minimum)


def _range(minimum, maximum, below) -> str:
    parts = [f">= {minimum}" if minimum is not None else "", f"<= {maximum}" if maximum is not None else ""]
    parts.append(f"< {below}" if below is not None else "")
    parts = [p for p in parts if p]
    return (" " + " and ".join(parts)) if parts else ""
