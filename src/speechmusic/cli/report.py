"""Write the report of a run directory: tables (Markdown, CSV), figures (PNG) and one HTML page,
in RUN_DIR/report unless ``-o`` says where. Prints the paths of the main files."""

from __future__ import annotations

import argparse

from speechmusic.cli._common import add_output, add_verb


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "report", doc=__doc__,
                 help="write tables, figures and an HTML page of the results of a run directory")
    p.add_argument("run_dir", metavar="RUN_DIR",
                   help="a run directory written by `speechmusic run` (or the demo)")
    add_output(p, help="output folder (default: RUN_DIR/report)")
    p.add_argument("--no-confusion", action="store_true", help="skip the confusion-matrix figures")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechmusic.evaluation.report import write_report

    files = write_report(args.run_dir, out_dir=args.output, confusion=not args.no_confusion)
    for role in ("report.html", "report.md", "results.csv", "figure4.csv", "figure5.csv"):
        if role in files:
            print(files[role])
    n_png = sum(1 for k in files if k.endswith(".png"))
    print(f"{n_png} figure(s)")
    return 0
