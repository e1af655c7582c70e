"""The registry of search methods: a name → a class with keyword hyper-parameters.

A method is a class decorated with :func:`register_method`. Its ``__init__``
takes only keyword hyper-parameters, each with its paper default; its
``search(oracle, rng)`` spends the oracle's budget. The harness resolves the
hyper-parameters (defaults plus overrides) before it builds the method, so the
resolved values are what a run records and hashes.

Methods are found on first use: :func:`get_method` imports, when a name is
unknown, every module of :mod:`lib.search` and the ``search`` module of every
other subpackage of :mod:`lib` that has one (``lib.arch2vec.search``, and any
``lib/<method>/search.py`` added later), so a new method package needs no
list to join, and a worker process (a process pool or a Dask worker) needs
nothing but the name.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import warnings
from pathlib import Path
from typing import Any

from lib.errors import StudyError


class UnknownMethodError(StudyError, KeyError):
    """No search method is registered under the name."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_REGISTRY: dict[str, type] = {}
_DISCOVERED = False


def register_method(name: str):
    """Class decorator that registers a search method under ``name``.

    The class gets a ``method_name`` attribute. Registering a second class
    under a taken name raises, unless it is the same class re-imported (a
    module reload).

    Raises:
        ValueError: The name is taken by another class, or the class has no
            ``search`` method.
    """

    def decorate(cls: type) -> type:
        if not callable(getattr(cls, "search", None)):
            raise ValueError(f"search method {name!r}: {cls.__name__} has no search(oracle, rng) method")
        taken = _REGISTRY.get(name)
        if taken is not None and taken.__qualname__ != cls.__qualname__:
            raise ValueError(f"search method name {name!r} is taken by {taken.__module__}.{taken.__qualname__}")
        cls.method_name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def method_modules() -> list[str]:
    """Modules that register search methods: those of :mod:`lib.search`, then ``lib.<package>.search`` for every
    other subpackage of :mod:`lib` (on every entry of ``lib.__path__``) that has a ``search`` module, sorted."""
    import lib
    import lib.search as package

    modules = [f"lib.search.{i.name}" for i in pkgutil.iter_modules(package.__path__) if not i.name.startswith("_")]
    for info in sorted(pkgutil.iter_modules(lib.__path__), key=lambda i: i.name):
        if not info.ispkg or info.name == "search" or info.name.startswith("_"):
            continue
        folder = getattr(info.module_finder, "path", None)
        where = Path(folder or "") / info.name
        if folder is not None and ((where / "search.py").exists() or (where / "search" / "__init__.py").exists()):
            modules.append(f"lib.{info.name}.search")
    return modules


def _discover() -> None:
    """Imports every module of :func:`method_modules` once, so their methods register."""
    global _DISCOVERED
    if _DISCOVERED:
        return
    _DISCOVERED = True
    for module in method_modules():
        try:
            importlib.import_module(module)
        except Exception as exc:  # one broken module must not hide the others
            warnings.warn(f"{module} could not be imported ({exc}); its methods are unavailable")


def get_method(name: str) -> type:
    """Returns the class registered under ``name``.

    Raises:
        UnknownMethodError: No method has that name (the message lists the known ones).
    """
    if name not in _REGISTRY:
        _discover()
    if name not in _REGISTRY:
        raise UnknownMethodError(f"unknown search method {name!r}; known: {', '.join(available_methods())}")
    return _REGISTRY[name]


def available_methods() -> list[str]:
    """Names of every registered method, sorted."""
    _discover()
    return sorted(_REGISTRY)


def default_hyperparameters(method: str | type) -> dict[str, Any]:
    """The method's keyword hyper-parameters with their defaults."""
    cls = get_method(method) if isinstance(method, str) else method
    params = inspect.signature(cls.__init__).parameters
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {name: p.default for name, p in params.items() if name != "self" and p.kind in kinds}


def resolve_hyperparameters(method: str | type, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Defaults of the method updated by ``overrides``, checked.

    Raises:
        TypeError: An override names no hyper-parameter of the method, a
            hyper-parameter has no default and was not given, or a value is
            not JSON-serialisable (runs are stored and hashed as JSON).
    """
    cls = get_method(method) if isinstance(method, str) else method
    name = getattr(cls, "method_name", cls.__name__)
    params = inspect.signature(cls.__init__).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    defaults = default_hyperparameters(cls)
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - set(defaults))
    if unknown and not takes_any:
        raise TypeError(
            f"search method {name!r} has no hyper-parameter(s) {unknown}; it takes {sorted(defaults) or 'none'}"
        )
    resolved = {**defaults, **overrides}
    missing = sorted(k for k, v in resolved.items() if v is inspect.Parameter.empty)
    if missing:
        raise TypeError(f"search method {name!r}: hyper-parameter(s) {missing} have no default; pass them")
    try:
        json.dumps(resolved, sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"search method {name!r}: hyper-parameters must be JSON values ({exc})") from None
    return resolved
