"""Pre-train, transfer to every target task, and write the results table (the paper's Table 2).

Writes ``table2.md``, ``table2.csv`` and ``report.html`` into the run directory (default
``runs/<config name>``) and prints Table 2. Resumable: finished folds are not trained again.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from speechmusic.cli._common import add_output, add_verb
from speechmusic.training.cache import FeatureCache
from speechmusic.transfer.config import load_transfer_config
from speechmusic.transfer.report import table2_markdown
from speechmusic.transfer.runner import run_transfer


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "transfer", doc=__doc__,
                 help="run the transfer-learning study: pre-train, transfer to each target task, "
                      "and write its results table (the paper's Table 2)")
    p.add_argument("config", metavar="CONFIG", help="transfer YAML, e.g. experiments/paper-transfer.yaml")
    add_output(p, help="run directory (default: runs/<config name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value by dotted key (repeatable; values are YAML)")
    p.add_argument("--target", action="append", default=[], metavar="NAME",
                   help="run only this target task (repeatable)")
    p.add_argument("--cache-dir", metavar="FOLDER", help="feature and embedding cache folder")
    p.add_argument("--list", action="store_true", help="list targets and rows, then exit")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_transfer_config(args.config, overrides=args.overrides)
    if args.list:
        rows = [f"{a}-emb-{s}" for a in config.architectures for s in config.strategies]
        rows += [f"{a}-orig" for a in config.architectures]
        rows += [f"{e}-emb" for e in config.embedders] + [f"{b}-baseline" for b in config.baselines]
        for t in config.targets:
            print(f"{t.name}\t{'+'.join(t.datasets)}\t{t.task}\t{', '.join(rows)}")
        return 0
    out = Path(args.output) if args.output else Path("runs") / config.name
    cache = FeatureCache(args.cache_dir) if args.cache_dir else None
    start = time.perf_counter()
    result = run_transfer(config, out, only_targets=args.target or None, cache=cache,
                          on_event=lambda msg: print(msg, flush=True))
    print()
    print(table2_markdown(result.table, level=config.table_level))
    for rec in result.skipped_experiments:
        print(f"skipped {rec.experiment}: {rec.reason}")
    print(f"\n{config.table_level}-wise accuracy; run directory: {out} (table2.md, table2.csv, "
          f"table2.png, report.html); {time.perf_counter() - start:.0f} s; skipped clips: "
          f"{len(result.skipped)}; skipped experiments: {len(result.skipped_experiments)}")
    return 0
