"""Validation of notebook parameters, with messages that say how to fix a bad value.

papermill passes parameters as literals and only warns about unknown names,
so each notebook's second cell checks its values with these helpers before
anything runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def parse_list(value: str | Iterable[str], *, name: str) -> list[str]:
    """Splits ``"a,b , c"`` into ``["a", "b", "c"]`` (lists pass through).

    Raises:
        ValueError: The list is empty.
    """
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v).strip() for v in value]
    items = [v for v in items if v]
    if not items:
        raise ValueError(f"parameter {name!r} is empty; give a comma-separated list, e.g. {name}='a,b'")
    return items


def parse_int_list(value: str | Iterable[int], *, name: str) -> list[int]:
    """Parses ``"50,100"`` or ``"0-9"`` (an inclusive range) into integers."""
    result = []
    for item in parse_list(value if isinstance(value, str) else [str(v) for v in value], name=name):
        try:
            if "-" in item[1:]:
                lo, hi = item.split("-", 1)
                result.extend(range(int(lo), int(hi) + 1))
            else:
                result.append(int(item))
        except ValueError:
            raise ValueError(f"parameter {name!r}: {item!r} is not an integer or a range like 0-9") from None
    return result


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Returns ``value`` if it is one of ``choices``, else raises a ValueError listing them."""
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"parameter {name!r} = {value!r} is not one of {choices}")
    return value


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> Any:
    """Returns ``value`` if it is a positive number (or zero when allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ValueError(f"parameter {name!r} must be a number {bound}, got {value!r}")
    return value
