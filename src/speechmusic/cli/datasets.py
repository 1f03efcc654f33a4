"""``speechmusic datasets``: list layouts, check a dataset on disk, write its manifest."""

from __future__ import annotations

import argparse
import json

from speechmusic.data import DatasetSpec, check_dataset, list_layouts, load_dataset
from speechmusic.training.config import parse_overrides


def _spec_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", help="the dataset's folder (or a manifest file for --layout manifest)")
    p.add_argument("--layout", required=True, help=f"one of: {', '.join(list_layouts())}")
    p.add_argument("--name", help="dataset name in the manifest (default: the layout)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="an adapter option, e.g. --option group_by=source (repeatable)")
    p.add_argument("--label-map", action="append", default=[], metavar="FROM=TO",
                   help="rename a class (TO empty or null drops it; repeatable)")
    p.add_argument("--classes", nargs="+", help="keep only these classes (after mapping)")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("datasets", help="dataset layouts: check a dataset, write its manifest",
                       description=__doc__)
    verbs = p.add_subparsers(dest="datasets_verb", required=True, metavar="ACTION")
    ls = verbs.add_parser("layouts", help="list the dataset layouts")
    ls.set_defaults(run=run)
    check = verbs.add_parser("check", help="counts, durations, sample rates and unreadable files "
                                           "(exit status 1 if any file is unreadable)")
    _spec_args(check)
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    check.set_defaults(run=run)
    man = verbs.add_parser("manifest", help="write the dataset's manifest (.csv or .jsonl)")
    _spec_args(man)
    man.add_argument("-o", "--output", required=True)
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
    manifest = load_dataset(_spec(args))
    if args.datasets_verb == "manifest":
        path = manifest.save(args.output)
        print(f"{path}: {len(manifest)} clips, {manifest.label_counts()}")
        return 0
    report = check_dataset(manifest)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"{args.root} ({args.layout}): {len(manifest)} clips")
        print(report.to_text())
    return 1 if report.unreadable else 0
