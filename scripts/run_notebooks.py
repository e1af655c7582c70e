"""The study's main job: run the numbered notebooks headless with papermill.

    python scripts/run_notebooks.py                       # all notebooks, default parameters
    python scripts/run_notebooks.py 02 03                 # only notebooks whose name starts so
    python scripts/run_notebooks.py -p benchmark nb201 -p dataset cifar100

``-p NAME VALUE`` is passed to every notebook that declares ``NAME`` in its
``parameters`` cell (values are parsed as Python literals when possible). An
unknown name is an error rather than papermill's silent warning. Executed
notebooks are written to ``results/executed/``; each notebook writes its own
tables and figures under ``results/<notebook>/``.
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
from pathlib import Path

import papermill as pm

from lib.paths import PROJECT_ROOT, results_dir


def literal(text: str):
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="notebook name prefixes, e.g. 01 02 (default: all)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    args = parser.parse_args(argv)
    notebooks = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        notebooks = [nb for nb in notebooks if any(nb.name.startswith(p) for p in args.only)]
        if not notebooks:
            parser.error(f"no notebook matches {args.only}")
    overrides = {name: literal(value) for name, value in args.parameter}
    declared = {nb: pm.inspect_notebook(str(nb)) for nb in notebooks}
    unknown = set(overrides) - set().union(*declared.values())
    if unknown:
        parser.error(f"no selected notebook declares parameter(s) {sorted(unknown)}")
    out_dir = results_dir("executed")
    for nb in notebooks:
        params = {k: v for k, v in overrides.items() if k in declared[nb]}
        print(f"== {nb.name} {params or ''}", flush=True)
        start = time.perf_counter()
        pm.execute_notebook(str(nb), str(out_dir / nb.name), parameters=params, cwd=str(nb.parent))
        print(f"   done in {time.perf_counter() - start:.0f} s", flush=True)
    print(f"executed notebooks in {out_dir}; tables and figures in {Path(out_dir).parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
