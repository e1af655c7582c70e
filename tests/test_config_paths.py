"""Parameter validation and path resolution."""

import pytest

from lib import paths
from lib.config import check_choice, check_positive, parse_int_list, parse_list
from lib.results import start_run


def test_parse_lists():
    assert parse_list("a, b,,c", name="x") == ["a", "b", "c"]
    assert parse_int_list("0-3,7", name="seeds") == [0, 1, 2, 3, 7]
    with pytest.raises(ValueError, match="'x' is empty"):
        parse_list(" , ", name="x")
    with pytest.raises(ValueError, match="'seeds': 'a' is not an integer"):
        parse_int_list("a", name="seeds")


def test_checks_name_the_parameter():
    with pytest.raises(ValueError, match="'benchmark' = 'x' is not one of"):
        check_choice("benchmark", "x", ["nb201"])
    with pytest.raises(ValueError, match="'budget' must be a number > 0"):
        check_positive("budget", 0)
    assert check_positive("budget", 0, allow_zero=True) == 0


def test_data_dirs_order_and_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV_VAR, str(tmp_path))
    dirs = paths.data_dirs()
    assert dirs[0] == tmp_path and dirs[1] == paths.PROJECT_ROOT / "data"
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f.csv").write_text("a\n")
    assert paths.find_data_file("x/f.csv") == tmp_path / "x" / "f.csv"
    assert paths.find_data_file("x/none.csv") is None
    assert paths.writable_data_dir() == tmp_path


def test_start_run_records_config_and_version(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv(paths.RESULTS_ENV_VAR, str(tmp_path))
    run = start_run("99_test", {"budget": 5})
    record = json.loads((tmp_path / "99_test" / "config.json").read_text())
    assert record["config"] == {"budget": 5} and record["code_version"]
    import pandas as pd

    run.save_table(pd.DataFrame({"a": [1.0]}), "t")
    assert (run.path / "t.csv").read_text().startswith("a\n") and "|" in (run.path / "t.md").read_text()
