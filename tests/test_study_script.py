"""scripts/study.py, make study's driver: its steps, its timing record, and that it stops at a failing step."""

import importlib.util
import json
import sys

import papermill as pm
import pytest

from lib.paths import PROJECT_ROOT, RESULTS_ENV_VAR


def _study():
    spec = importlib.util.spec_from_file_location("study", PROJECT_ROOT / "scripts" / "study.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_failing_step_stops_the_study_and_the_times_so_far_are_written(tmp_path, monkeypatch):
    study = _study()
    marker = tmp_path / "third_ran"
    monkeypatch.setattr(study, "STEPS", {
        "ok": [sys.executable, "-c", "pass"],
        "fails": [sys.executable, "-c", "raise SystemExit(3)"],
        "after": [sys.executable, "-c", f"open({str(marker)!r}, 'w')"],
    })  # fmt: skip
    monkeypatch.setenv(RESULTS_ENV_VAR, str(tmp_path / "results"))
    assert study.main([]) == 3
    assert not marker.exists()
    record = json.loads((tmp_path / "results" / "study_timing.json").read_text())
    assert [(s["step"], s["exit_status"]) for s in record["steps"]] == [("ok", 0), ("fails", 3)]
    assert record["code_version"] and record["cpu_cores"] and record["total_seconds"] >= 0


def test_unknown_steps_are_refused_with_the_list_of_steps(capsys):
    study = _study()
    with pytest.raises(SystemExit):
        study.main(["--only", "sweep-everything"])
    err = capsys.readouterr().err
    assert "sweep-everything" in err and "sweep-agnet" in err


def test_the_crlso_sweep_uses_notebook_04s_joint_cells_so_the_notebook_reuses_its_runs():
    study = _study()
    joint_cells = pm.inspect_notebook(str(PROJECT_ROOT / "notebooks" / "04_crlso.ipynb"))["joint_cells"]["default"]
    assert f"crlso.joint_cells={joint_cells}" in study.STEPS["sweep-crlso"]
    assert all(study.BENCHMARK in cmd for name, cmd in study.STEPS.items() if name.startswith("sweep"))
