"""Train and cross-validate the experiments of a YAML config into a run directory; a rerun
resumes where it stopped. An experiment whose data is missing (a dataset root unset, a class
absent, too few groups) is skipped with its reason while the others run. Prints each
experiment's frame-wise and file-wise accuracy, and what was skipped."""

from __future__ import annotations

import argparse
from pathlib import Path

from speechmusic.cli._common import add_output, add_verb
from speechmusic.training import expand_experiments, load_config, run_config
from speechmusic.training.cache import FeatureCache


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "run", doc=__doc__,
                 help="train and cross-validate the experiments of a YAML config (a rerun "
                      "resumes where it stopped)")
    p.add_argument("config", metavar="CONFIG", help="experiment YAML, e.g. experiments/paper.yaml")
    add_output(p, help="run directory (default: runs/<config name>)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value by dotted key, e.g. --set roots.musan=/data/musan "
                        "or --set training.max_epochs=30 (repeatable; values are YAML)")
    p.add_argument("--only", action="append", default=[], metavar="PATTERN",
                   help="run only experiments whose name matches this glob (repeatable)")
    p.add_argument("--cache-dir", metavar="FOLDER", help="feature cache folder (overrides the config's cache_dir)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.set_defaults(run=run)


def _pct(row: dict, level: str) -> str:
    m, s = row[f"{level}_accuracy_mean"], row[f"{level}_accuracy_std"]
    return "-" if m is None else f"{100 * m:.1f} ± {100 * (s or 0):.1f}"


def run(args: argparse.Namespace) -> int:
    config = load_config(args.config, overrides=args.overrides)
    experiments = expand_experiments(config, only=args.only or None)
    if args.list:
        for e in experiments:
            print(f"{e.name}\t{'+'.join(e.dataset_names)}\t{e.task_name}\t{e.model.name}\t{e.features_name}")
        return 0
    out = Path(args.output) if args.output else Path("runs") / config.name
    cache = FeatureCache(args.cache_dir) if args.cache_dir else None
    result = run_config(config, out, only=args.only or None, cache=cache)
    print(f"{'experiment':<48}{'folds':>6}{'frame acc':>18}{'file acc':>18}")
    for r in result.results:
        print(f"{r['experiment']:<48}{r['n_folds']:>6}{_pct(r, 'frame'):>18}{_pct(r, 'file'):>18}")
    for rec in result.skipped_experiments:
        print(f"skipped {rec.experiment}: {rec.reason}")
    stats = result.cache_stats
    print(f"run directory: {out}; features extracted {stats.extracted}, from cache {stats.hits}; "
          f"skipped clips: {len(result.skipped)}" + (f" (see {out / 'skipped.csv'})" if result.skipped else "")
          + f"; skipped experiments: {len(result.skipped_experiments)}"
          + (f" (see {out / 'skipped_experiments.csv'})" if result.skipped_experiments else ""))
    return 0
