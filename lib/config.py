"""Validation of notebook parameters, with messages that say how to fix a bad value.

papermill passes parameters as literals and only warns about unknown names,
and ``papermill -r`` or ``scripts/run_notebooks.py -p budget abc`` hand a
notebook a string where it expects a number; so each notebook's validation
cell checks every value with these helpers before any work is done. Each
helper returns the checked (possibly converted) value and raises
:class:`ParameterError`, a :class:`ValueError` whose message names the
parameter, the bad value and what is allowed::

    budget = check_int("budget", budget, min=1)      # "abc", -5, 2.5 and True are refused
    seed = check_seed("seed", seed)
    confidence = check_float("confidence", confidence, min=0, max=1, inclusive=False)
    seeds = parse_int_list(seeds, name="seeds")      # "0-9,12"
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import numpy as np

from lib.errors import StudyError

T = TypeVar("T")

MAX_SEED = 2**32 - 1
"""Largest seed every generator the study seeds accepts (``numpy.random.seed`` needs < 2**32)."""
MAX_LIST_LENGTH = 1_000_000
"""Longest integer list :func:`parse_int_list` expands (``0-99999999999`` is a typo, not a sweep)."""


class ParameterError(StudyError, ValueError):
    """A notebook or command-line parameter has a bad value (the message names it, the value and what is allowed)."""


def _fail(name: str | None, value: Any, allowed: str) -> ParameterError:
    label = f"parameter {name!r} = {value!r}" if name else repr(value)
    return ParameterError(f"{label}: {allowed}")


def _bounds(low: float | None, high: float | None, inclusive: bool = True) -> str:
    lo, hi = ("≥", "≤") if inclusive else (">", "<")
    if low is not None and high is not None:
        return f"in [{low}, {high}]" if inclusive else f"in ({low}, {high})"
    if low is not None:
        return f"{lo} {low}"
    if high is not None:
        return f"{hi} {high}"
    return ""


def check_int(name: str, value: Any, *, min: int | None = None, max: int | None = None) -> int:
    """Returns ``value`` as an ``int`` if it is an integer within ``[min, max]``.

    Integers (Python or NumPy) pass; so does a string of digits such as
    ``"200"`` (what ``papermill -r`` passes). Booleans, floats and other
    strings are refused.

    Args:
        name: The parameter's name, for the message.
        value: The value to check.
        min: Smallest allowed value (``None``: no bound).
        max: Largest allowed value (``None``: no bound).

    Raises:
        ParameterError: Not an integer, or out of range.
    """
    wanted = " ".join(filter(None, ["an integer", _bounds(min, max)]))
    number = value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        number = int(value)
    if isinstance(number, (bool, np.bool_)) or not isinstance(number, (int, np.integer)):
        raise _fail(name, value, f"expected {wanted} (got {type(value).__name__})")
    number = int(number)
    if (min is not None and number < min) or (max is not None and number > max):
        raise _fail(name, value, f"expected {wanted}")
    return number


def check_seed(name: str, value: Any) -> int:
    """Returns ``value`` if it is a valid seed: an integer in ``[0, 2**32 - 1]``.

    Raises:
        ParameterError: Not such an integer.
    """
    return check_int(name, value, min=0, max=MAX_SEED)


def check_float(name: str, value: Any, *, min: float | None = None, max: float | None = None,
                inclusive: bool = True) -> float:  # fmt: skip
    """Returns ``value`` as a finite ``float`` within the bounds.

    Integers and floats pass (not booleans), and so does a numeric string.

    Args:
        name: The parameter's name, for the message.
        value: The value to check.
        min: Lower bound (``None``: none).
        max: Upper bound (``None``: none).
        inclusive: Whether the bounds themselves are allowed.

    Raises:
        ParameterError: Not a finite number, or out of range.
    """
    wanted = " ".join(filter(None, ["a finite number", _bounds(min, max, inclusive)]))
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
    if isinstance(number, (bool, np.bool_)) or not isinstance(number, (int, float, np.integer, np.floating)):
        raise _fail(name, value, f"expected {wanted} (got {type(value).__name__})")
    number = float(number)
    if not math.isfinite(number):
        raise _fail(name, value, f"expected {wanted}")
    below = min is not None and (number < min if inclusive else number <= min)
    above = max is not None and (number > max if inclusive else number >= max)
    if below or above:
        raise _fail(name, value, f"expected {wanted}")
    return number


_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def check_bool(name: str, value: Any) -> bool:
    """Returns ``value`` as a ``bool``: ``True``/``False``, or the strings true/false, yes/no, 1/0.

    Raises:
        ParameterError: Anything else (``1`` or ``"maybe"`` included).
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise _fail(name, value, "expected True or False")


def check_str(name: str, value: Any, *, allow_empty: bool = True) -> str:
    """Returns ``value`` if it is a string (non-empty unless ``allow_empty``).

    Raises:
        ParameterError: Not a string, or empty when that is not allowed.
    """
    if not isinstance(value, str):
        raise _fail(name, value, f"expected a string (got {type(value).__name__})")
    if not allow_empty and not value.strip():
        raise _fail(name, value, "expected a non-empty string")
    return value


def check_parsed(name: str, value: Any, parse: Callable[[Any], T]) -> T:
    """Returns ``parse(value)``; a ``ValueError``/``KeyError``/``TypeError`` from it is re-raised naming the parameter.

    For parameters parsed by a library function whose own message says what
    is wrong but not which parameter it came from, e.g.
    ``check_parsed("benchmarks", benchmarks, lib.sweep.parse_benchmarks)``.

    Raises:
        ParameterError: ``parse`` refused the value.
    """
    try:
        return parse(value)
    except ParameterError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise _fail(name, value, str(exc) if str(exc) else type(exc).__name__) from None


def parse_list(value: str | Iterable[str], *, name: str, allow_empty: bool = False) -> list[str]:
    """Splits ``"a,b , c"`` into ``["a", "b", "c"]`` (lists pass through).

    Args:
        value: A comma-separated string, or an iterable of strings.
        name: The parameter's name, for the message.
        allow_empty: Whether an empty list (``""``) is allowed.

    Raises:
        ParameterError: The list is empty (unless allowed), or ``value`` is neither a string nor a list.
    """
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, Iterable):
        items = [str(v).strip() for v in value]
    else:
        raise _fail(name, value, f"expected a comma-separated list, e.g. {name}='a,b' (got {type(value).__name__})")
    items = [v for v in items if v]
    if not items and not allow_empty:
        raise ParameterError(f"parameter {name!r} is empty (got {value!r}); give a comma-separated list, e.g. {name}='a,b'")
    return items


def check_choices(name: str, value: str | Iterable[str], choices: Iterable[str], *, allow_empty: bool = False) -> list[str]:
    """Parses a comma-separated list with :func:`parse_list` and checks every item is one of ``choices``.

    Raises:
        ParameterError: An unknown item (all are named), or an empty list when not allowed.
    """
    choices = list(choices)
    items = parse_list(value, name=name, allow_empty=allow_empty)
    unknown = [item for item in items if item not in choices]
    if unknown:
        raise _fail(name, value, f"unknown item(s) {unknown}; choose from {choices}")
    return items


_INT_ITEM = re.compile(r"^(?P<lo>[+-]?\d+)(?:\s*-\s*(?P<hi>[+-]?\d+))?$")


def parse_int_list(value: str | int | Iterable[int], *, name: str | None = None, min: int | None = 0,
                   max: int | None = None) -> list[int]:  # fmt: skip
    """Parses ``"50,100"``, ``"0-9"`` (an inclusive range) or ``"0-3,7"`` into sorted, distinct integers.

    The one implementation for notebooks and command lines (``lib.sweep``
    uses it for ``--seeds`` and ``--budgets``). Strict: an empty list, a part
    that is not an integer, a range whose end is before its start (``3-1``)
    and values below ``min`` (by default negative ones) are refused.

    Args:
        value: The text; an int or an iterable of ints pass through the same checks.
        name: The parameter's name for the message (``None`` on a command line,
            whose parser names the option).
        min: Smallest allowed value (default 0; ``None``: no bound).
        max: Largest allowed value (``None``: no bound).

    Raises:
        ParameterError: See above; the message quotes the bad part.
    """
    where = f"parameter {name!r}: " if name else ""
    if isinstance(value, (bool, np.bool_)):
        raise ParameterError(f"{where}expected integers like '0-9' or '50,100' (got {value!r})")
    if isinstance(value, (int, np.integer)):
        parts = [str(int(value))]
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    elif isinstance(value, Iterable):
        parts = [str(v).strip() for v in value]
    else:
        raise ParameterError(f"{where}expected integers like '0-9' or '50,100' (got {value!r}, a {type(value).__name__})")
    values: set[int] = set()
    for part in parts:
        if not part:
            continue
        match = _INT_ITEM.match(part)
        if not match:
            raise ParameterError(f"{where}{part!r} is not an integer or a range like 0-9")
        lo = int(match["lo"])
        hi = int(match["hi"]) if match["hi"] is not None else lo
        if hi < lo:
            raise ParameterError(f"{where}{part!r} is a range whose end is before its start; write {hi}-{lo}")
        if hi - lo >= MAX_LIST_LENGTH:
            raise ParameterError(f"{where}the range {part!r} has more than {MAX_LIST_LENGTH:,} values")
        for bound, ok, text in ((min, lambda b: lo >= b, "≥"), (max, lambda b: hi <= b, "≤")):
            if bound is not None and not ok(bound):
                raise ParameterError(f"{where}{part!r} is out of range; every value must be {text} {bound}")
        values.update(range(lo, hi + 1))
    if not values:
        raise ParameterError(f"{where}no integers in {value!r}; write e.g. '0-9' or '50,100'")
    return sorted(values)


def check_choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """Returns ``value`` if it is one of ``choices``, else raises a :class:`ParameterError` listing them."""
    choices = list(choices)
    try:
        known = value in choices
    except TypeError:  # an unhashable value against dict keys
        known = False
    if not known:
        raise ParameterError(f"parameter {name!r} = {value!r} is not one of {choices}")
    return value


def check_positive(name: str, value: Any, *, allow_zero: bool = False) -> Any:
    """Returns ``value`` if it is a positive number (or zero when allowed)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ParameterError(f"parameter {name!r} must be a number {bound}, got {value!r}")
    return value
