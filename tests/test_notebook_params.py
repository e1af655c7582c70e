"""Bad notebook parameters stop in the notebook's validation cell with a message naming the parameter and the value.

Each case runs the real notebook's ``parameters`` cell, then the bad value
(as papermill's injected cell would), then the validation cell (the code cell
after the parameters), in this process. ``start_run`` is replaced by a
sentinel, so a case also fails if the notebook reaches any work before it
refuses the value. Also: the :mod:`lib.config` helpers, and the same cells
accepting a registered table as their benchmark.
"""

from __future__ import annotations

import importlib.util

import nbformat
import numpy as np
import pandas as pd
import pytest

import lib.results
from lib import benchmark as bm
from lib.config import (ParameterError, check_bool, check_choice, check_choices, check_float, check_int, check_parsed,
                        check_seed, check_str, parse_int_list, parse_list)  # fmt: skip
from lib.paths import PROJECT_ROOT
from lib.spaces import NB201Space


class WorkStarted(Exception):
    """Raised by the stand-in ``start_run``: the validation cell let every value through."""


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_NAS_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("LATENT_NAS_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("MPLBACKEND", "Agg")

    def start_run(*args, **kwargs):
        raise WorkStarted(args[0] if args else "")

    monkeypatch.setattr(lib.results, "start_run", start_run)
    yield
    bm._CUSTOM.clear()
    bm._TABLES.clear()


def validation_cells(notebook: str) -> tuple[str, str]:
    """Sources of the notebook's ``parameters`` cell and of the code cell after it (the validation cell)."""
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    (position,) = [i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    return code[position].source, code[position + 1].source


def run_validation(notebook: str, **values) -> dict:
    parameters, validation = validation_cells(notebook)
    namespace: dict = {}
    exec(parameters, namespace)
    namespace.update(values)  # what papermill's injected-parameters cell does
    exec(validation, namespace)
    return namespace


CASES = [  # notebook, parameter, bad value (one per kind the notebook has, and the examples)
    ("01_benchmarks", "seed", -1),
    ("01_benchmarks", "num_drawn", "abc"),
    ("01_benchmarks", "duplicate_samples", -5),
    ("01_benchmarks", "benchmark", "nb999"),
    ("01_benchmarks", "dataset", "mnist"),
    ("01_benchmarks", "spaces", "nbgraph,nb301"),
    ("02_arch2vec", "budget", "abc"),
    ("02_arch2vec", "budget", -5),
    ("02_arch2vec", "seed", -1),
    ("02_arch2vec", "epochs", 2.5),
    ("02_arch2vec", "seeds", True),
    ("02_arch2vec", "search_methods", "random,arch2vec_gp"),
    ("02_arch2vec", "ablations", "VGAE,SAE"),
    ("02_arch2vec", "device", "tpu"),
    ("02_arch2vec", "benchmark", 201),
    ("06_results", "smoke_budget", "abc"),
    ("06_results", "confidence", 1.5),
    ("06_results", "confidence", "high"),
    ("06_results", "smoke_sweep", "maybe"),
    ("06_results", "results_root", 5),
    ("06_results", "methods", "random,nonsense"),
    ("06_results", "budgets", "3-1"),
    ("06_results", "smoke_seeds", "-1"),
    ("06_results", "benchmarks", "nb999:cifar10"),
    ("06_results", "comparisons", "random vs"),
    ("06_results", "objectives", "val_acc,test_acc"),
    ("06_results", "constraint_bounds", "latency_pixel3_ms<5"),
    ("06_results", "mo_methods", "random,nonsense"),
    ("06_results", "mixed_versions", "ignore"),
]


@pytest.mark.parametrize("notebook, name, value", CASES, ids=[f"{n[:2]}-{p}={v!r}" for n, p, v in CASES])
def test_a_bad_parameter_stops_the_notebook_with_a_clear_message(notebook, name, value):
    with pytest.raises(ParameterError) as info:
        run_validation(notebook, **{name: value})
    message = str(info.value)
    assert f"'{name}'" in message, message
    assert repr(value) in message, message


@pytest.mark.parametrize("notebook", ["01_benchmarks", "02_arch2vec", "06_results"])
def test_the_default_and_a_registered_table_pass_validation(notebook, tmp_path):
    """The checks let good values through (up to start_run), a registered table included."""
    archs = [NB201Space().to_native(c) for c in NB201Space().enumerate()][::50]
    pd.DataFrame({"arch": archs, "val": np.linspace(50, 90, len(archs))}).to_csv(tmp_path / "t.csv", index=False)
    bm.register_table("mytable", tmp_path / "t.csv", space="nb201", cell_column="arch", val_column="val")
    with pytest.raises(WorkStarted):
        run_validation(notebook)
    custom = {"benchmarks": "mytable"} if notebook == "06_results" else {"benchmark": "mytable", "dataset": "custom"}
    with pytest.raises(WorkStarted):
        run_validation(notebook, **custom)
    if notebook == "02_arch2vec":  # the table-dependent bounds are checked after loading it
        with pytest.raises(ParameterError, match=r"'budget' = 500: expected an integer in \[1, 313\]"):
            run_validation(notebook, budget=500, **custom)


def test_run_notebooks_passes_text_that_the_notebook_refuses_clearly():
    spec = importlib.util.spec_from_file_location("run_notebooks", PROJECT_ROOT / "scripts" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.literal("-5") == -5 and module.literal("abc") == "abc"  # `-p budget abc` arrives as text
    with pytest.raises(ParameterError, match=r"parameter 'budget' = 'abc': expected an integer ≥ 1 \(got str\)"):
        run_validation("02_arch2vec", budget=module.literal("abc"))


# --------------------------------------------------------------------------- the helpers


def test_check_int():
    assert check_int("n", 3, min=1) == 3 and check_int("n", np.int64(3)) == 3 and check_int("n", " 12 ") == 12
    for bad in ("abc", 2.5, True, None, "1.0", [1]):
        with pytest.raises(ParameterError, match=rf"parameter 'n' = {bad!r}".replace("[", r"\[").replace("(", r"\(")):
            check_int("n", bad)
    with pytest.raises(ParameterError, match=r"'n' = 0: expected an integer in \[1, 5\]"):
        check_int("n", 0, min=1, max=5)
    with pytest.raises(ParameterError, match="≤ 5"):
        check_int("n", 6, max=5)


def test_check_seed_float_bool_str():
    assert check_seed("seed", 0) == 0
    with pytest.raises(ParameterError, match=r"'seed' = -1: expected an integer in \[0, 4294967295\]"):
        check_seed("seed", -1)
    assert check_float("c", 1) == 1.0 and check_float("c", "0.5", min=0, max=1) == 0.5
    for bad in (0, 1, float("nan"), "high", True):
        with pytest.raises(ParameterError, match="'c'"):
            check_float("c", bad, min=0, max=1, inclusive=False)
    assert check_float("c", 1, min=0, max=1) == 1.0
    assert check_bool("b", True) is True and check_bool("b", "False") is False and check_bool("b", np.bool_(1)) is True
    for bad in (1, "maybe", None):
        with pytest.raises(ParameterError, match=rf"'b' = {bad!r}: expected True or False"):
            check_bool("b", bad)
    assert check_str("s", "") == ""
    with pytest.raises(ParameterError, match="non-empty"):
        check_str("s", "  ", allow_empty=False)
    with pytest.raises(ParameterError, match=r"'s' = 5: expected a string \(got int\)"):
        check_str("s", 5)


def test_choices_lists_and_parsed_values():
    assert check_choice("m", "a", ["a", "b"]) == "a"
    with pytest.raises(ParameterError, match=r"'m' = \['a'\] is not one of"):
        check_choice("m", ["a"], {"a": 1})  # unhashable against dict keys: refused, not a TypeError
    assert check_choices("m", "a, b", ["a", "b"]) == ["a", "b"] and check_choices("m", "", ["a"], allow_empty=True) == []
    with pytest.raises(ParameterError, match=r"'m' = 'a,c,d': unknown item\(s\) \['c', 'd'\]; choose from \['a'\]"):
        check_choices("m", "a,c,d", ["a"])
    with pytest.raises(ParameterError, match="'m' is empty"):
        parse_list("", name="m")
    with pytest.raises(ParameterError, match="expected a comma-separated list"):
        parse_list(5, name="m")
    assert check_parsed("x", "3", int) == 3
    with pytest.raises(ParameterError, match=r"parameter 'x' = 'a': invalid literal"):
        check_parsed("x", "a", int)


def test_parse_int_list_is_strict():
    assert parse_int_list("0-3,7,2", name="s") == [0, 1, 2, 3, 7]
    assert parse_int_list("5") == [5] and parse_int_list(7) == [7] and parse_int_list([3, 1, 3]) == [1, 3]
    assert parse_int_list(" 1 - 3 ") == [1, 2, 3] and parse_int_list("-2-1", min=None) == [-2, -1, 0, 1]
    cases = {"3-1": "end is before its start; write 1-3", "": "no integers", " , ": "no integers",
             "a": "'a' is not an integer", "1-": "'1-' is not an integer", "-1": "every value must be ≥ 0",
             "1.5": "not an integer", "0-99999999": "more than 1,000,000 values"}  # fmt: skip
    for text, why in cases.items():
        with pytest.raises(ParameterError, match=why):
            parse_int_list(text, name="seeds")
        with pytest.raises(ValueError, match="parameter 'seeds'"):
            parse_int_list(text, name="seeds")
    with pytest.raises(ParameterError, match="≥ 1"):
        parse_int_list("0,5", min=1)
    with pytest.raises(ParameterError, match="≤ 4"):
        parse_int_list("3-5", max=4)
    with pytest.raises(ParameterError):
        parse_int_list(True)


def test_the_sweep_uses_the_one_parse_int_list():
    import lib.sweep

    assert lib.sweep.parse_int_list is parse_int_list
    with pytest.raises(SystemExit):
        lib.sweep.main(["--seeds", "3-1", "--dry-run"])
    with pytest.raises(SystemExit):
        lib.sweep.main(["--budgets", "0", "--dry-run"])
