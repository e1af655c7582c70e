"""Every numbered notebook runs headless with its CI parameters and passes nbval.

For each ``notebooks/NN_*.ipynb`` the file ``notebooks/ci/NN_*.json`` holds
``{"parameters": {...}, "expected_outputs": [...]}``. The test checks that each
CI parameter exists in the notebook's ``parameters`` cell (papermill would only
warn), prepares a copy with ``papermill --prepare-only`` in the notebooks
folder, puts the expected text into the cells marked ``# NBVAL_CHECK_OUTPUT``
(in order) and runs ``pytest --nbval-lax`` on it, with results written to a
temporary folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill as pm
import pytest

from lib.paths import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MARK = "# NBVAL_CHECK_OUTPUT"


def ci_spec(notebook: Path) -> dict:
    path = notebook.parent / "ci" / f"{notebook.stem}.json"
    assert path.exists(), f"{notebook.name} has no CI parameters file {path}"
    spec = json.loads(path.read_text())
    if "parameters" not in spec:
        spec = {"parameters": spec}
    return spec


def test_there_are_numbered_notebooks():
    assert any(nb.name.startswith("01_") for nb in NOTEBOOKS)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_ci_parameters_exist_in_the_parameters_cell(notebook):
    declared = pm.inspect_notebook(str(notebook))
    assert declared, f"{notebook.name} has no cell tagged 'parameters'"
    unknown = set(ci_spec(notebook)["parameters"]) - set(declared)
    assert not unknown, f"CI passes parameters {sorted(unknown)} that {notebook.name} does not declare"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_are_committed_without_outputs(notebook):
    nb = nbformat.read(notebook, as_version=4)
    with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not with_outputs, f"{notebook.name}: clear the outputs of cells {with_outputs} before committing"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_under_nbval(notebook, tmp_path):
    spec = ci_spec(notebook)
    prepared = notebook.parent / f"_ci_{notebook.name}"
    try:
        pm.execute_notebook(str(notebook), str(prepared), parameters=spec["parameters"], prepare_only=True,
                            progress_bar=False)  # fmt: skip
        nb = nbformat.read(prepared, as_version=4)
        marked = [c for c in nb.cells if c.cell_type == "code" and MARK in c.source]
        expected = spec.get("expected_outputs", [])
        assert len(expected) == len(marked), (
            f"{notebook.name}: {len(marked)} cells are marked {MARK!r} but the CI file has {len(expected)} expected outputs"
        )
        for cell, text in zip(marked, expected):
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)]
            cell.execution_count = 1
        nbformat.write(nb, prepared)
        env = dict(os.environ, LATENT_NAS_RESULTS=str(tmp_path / "results"), MPLBACKEND="Agg")
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "--nbval-lax", "-q", "-p", "no:cacheprovider", str(prepared)],
            cwd=notebook.parent, env=env, capture_output=True, text=True, timeout=1200,
        )  # fmt: skip
        assert proc.returncode == 0, f"nbval failed for {notebook.name}:\n{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
        assert (tmp_path / "results").exists() and any((tmp_path / "results").rglob("config.json"))
    finally:
        prepared.unlink(missing_ok=True)
