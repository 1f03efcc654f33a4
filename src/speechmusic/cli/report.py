"""Write the report of run directories: the paper's Figures 4 and 5 (a ``speechmusic run``
directory) and Table 2 (a ``speechmusic transfer`` one) as Markdown, CSV and PNG, and one HTML
page, in RUN_DIR/report unless ``-o`` says where. Give both directories of the study to have
them on one page. Prints the paths of the main files."""

from __future__ import annotations

import argparse

from speechmusic.cli._common import add_output, add_verb


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "report", doc=__doc__,
                 help="write tables, figures and an HTML page of the results of run directories")
    p.add_argument("run_dirs", metavar="RUN_DIR", nargs="+",
                   help="a run directory written by `speechmusic run` or `speechmusic transfer` "
                        "(or the demo); several: one page for all")
    add_output(p, help="output folder (default: the first RUN_DIR/report)")
    p.add_argument("--no-confusion", action="store_true", help="skip the confusion-matrix figures")
    p.set_defaults(run=run)


_MAIN = ("report.html", "report.md", "figure4.md", "figure4.csv", "figure4.png", "figure5.md",
         "figure5.csv", "figure5.png", "table2.md", "table2.csv", "table2.png", "results.csv")


def run(args: argparse.Namespace) -> int:
    from speechmusic.evaluation.report import write_report

    files = write_report(args.run_dirs, out_dir=args.output, confusion=not args.no_confusion)
    for role in _MAIN:
        if role in files:
            print(files[role])
    n_png = sum(1 for k in files if k.endswith(".png"))
    print(f"{n_png} figure(s)")
    return 0
