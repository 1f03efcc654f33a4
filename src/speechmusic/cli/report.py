"""``speechmusic report RUN_DIR``: tables (Markdown, CSV), figures (PNG) and one HTML page."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write the report of a run directory", description=__doc__)
    p.add_argument("run_dir")
    p.add_argument("-o", "--out", help="output folder (default: RUN_DIR/report)")
    p.add_argument("--no-confusion", action="store_true", help="skip the confusion-matrix figures")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from speechmusic.evaluation.report import write_report

    files = write_report(args.run_dir, out_dir=args.out, confusion=not args.no_confusion)
    for role in ("report.html", "report.md", "results.csv", "figure4.csv", "figure5.csv"):
        if role in files:
            print(files[role])
    n_png = sum(1 for k in files if k.endswith(".png"))
    print(f"{n_png} figure(s)")
    return 0
