"""Writes a notebook's outputs under ``results/<notebook>/``, atomically.

Every notebook starts with a ``parameters`` cell, then calls
:func:`start_run`, which validates nothing itself but records the resolved
configuration (with the code version) in ``config.json`` and returns a
:class:`RunDir` through which tables and figures are saved.
"""

from __future__ import annotations

import json
import platform
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from lib.paths import PROJECT_ROOT, atomic_target, results_dir


def code_version() -> str:
    """The git commit of the project (``+dirty`` when files are modified), or ``"unknown"``."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    if not commit:
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def atomic_write_text(path: Path, text: str) -> None:
    """Writes text through a temporary file in the same folder, then renames it."""
    with atomic_target(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@dataclass
class RunDir:
    """The output folder of one notebook run."""

    path: Path

    def save_table(self, table: pd.DataFrame, name: str, *, index: bool = False, floatfmt: str = ".3f") -> Path:
        """Saves ``name.csv`` and ``name.md`` (a Markdown table) and returns the CSV path."""
        csv_path = self.path / f"{name}.csv"
        atomic_write_text(csv_path, table.to_csv(index=index))
        atomic_write_text(self.path / f"{name}.md", table.to_markdown(index=index, floatfmt=floatfmt) + "\n")
        return csv_path

    def save_figure(self, fig: Any, name: str, *, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
        """Saves a matplotlib figure as PNG and PDF (150 dpi) and returns the paths."""
        paths = []
        for fmt in formats:
            target = self.path / f"{name}.{fmt}"
            with atomic_target(target, suffix=f".{fmt}") as tmp:
                fig.savefig(tmp, dpi=150, bbox_inches="tight", format=fmt)
            paths.append(target)
        return paths

    def save_json(self, obj: Any, name: str) -> Path:
        """Saves ``name.json`` (indented, keys sorted)."""
        target = self.path / f"{name}.json"
        atomic_write_text(target, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
        return target


def start_run(notebook: str, config: dict[str, Any]) -> RunDir:
    """Creates ``results/<notebook>/`` and records the resolved configuration.

    Args:
        notebook: Folder name, e.g. ``"01_benchmarks"``.
        config: The notebook's parameters after validation.

    Returns:
        The run folder; ``config.json`` in it holds ``config`` plus the code
        version, Python version and a UTC timestamp.
    """
    run = RunDir(results_dir(notebook))
    record = {
        "notebook": notebook,
        "config": config,
        "code_version": code_version(),
        "python": platform.python_version(),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    run.save_json(record, "config")
    return run
