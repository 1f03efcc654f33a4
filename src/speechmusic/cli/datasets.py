"""Check a dataset on disk, or write its manifest: the list of clips, labels and groups that
``speechmusic run`` trains on. ``layouts`` lists the folder layouts this tool reads (each
dataset's own, or a manifest). ``check`` prints, per class, the files found next to the counts
of the paper's Table 1, and what was left out and why."""

from __future__ import annotations

import argparse
import json

from speechmusic.cli._common import add_output, add_verb
from speechmusic.data import DatasetSpec, list_layouts, load_dataset, survey_dataset, survey_report
from speechmusic.data.paper import paper_keys, paper_row
from speechmusic.training.config import parse_overrides


def _spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", metavar="ROOT", help="the dataset's folder (or a manifest file for --layout manifest)")
    p.add_argument("--layout", required=True,
                   help=f"how the dataset is organised on disk, one of: {', '.join(list_layouts())}")
    p.add_argument("--name", help="dataset name in the manifest (default: the layout's name)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="an adapter option, e.g. --option group_by=source (repeatable)")
    p.add_argument("--label-map", action="append", default=[], metavar="FROM=TO",
                   help="rename a class (TO empty or null drops it; repeatable)")
    p.add_argument("--classes", nargs="+", help="keep only these classes (after mapping)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "datasets", doc=__doc__,
                 help="check a dataset on disk, or write the manifest (list of clips and labels) "
                      "that training reads")
    verbs = p.add_subparsers(dest="datasets_verb", required=True, metavar="ACTION", title="actions",
                             help="what to do, one of:")
    ls = add_verb(verbs, "layouts", help="list the dataset layouts this tool can read")
    ls.set_defaults(run=run)
    check = add_verb(verbs, "check", help="count clips, durations and sample rates, and list "
                                          "unreadable files (exit status 1 if there are any)")
    _spec_args(check)
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.add_argument("--paper", metavar="DATASET",
                       help="the row of the paper's Table 1 to compare with, one of: "
                            f"{', '.join(paper_keys())}, or none (default: the dataset's --name, "
                            "else its layout)")
    check.set_defaults(run=run)
    man = add_verb(verbs, "manifest", help="write the dataset's manifest (.csv or .jsonl)")
    _spec_args(man)
    add_output(man, required=True, help="manifest file to write (.csv or .jsonl)")
    man.set_defaults(run=run)


def _spec(args: argparse.Namespace) -> DatasetSpec:
    options = dict(parse_overrides(args.option))
    label_map = {k: (None if v in (None, "", "null") else str(v))
                 for k, v in parse_overrides(args.label_map)}
    return DatasetSpec(layout=args.layout, root=args.root, name=args.name, label_map=label_map,
                       classes=args.classes, options=options)


def run(args: argparse.Namespace) -> int:
    if args.datasets_verb == "layouts":
        for name in list_layouts():
            print(name)
        return 0
    spec = _spec(args)
    if args.datasets_verb == "manifest":
        manifest = load_dataset(spec)
        path = manifest.save(args.output)
        print(f"{path}: {len(manifest)} clips, {manifest.label_counts()}")
        return 0
    paper = paper_row(layout=args.layout, name=args.name, task=spec.options.get("task"),
                      paper=args.paper)
    report = survey_report(survey_dataset(spec), root=args.root, paper=paper)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.to_text())
    return 1 if report.check.unreadable else 0
