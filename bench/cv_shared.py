"""5-fold cross-validation of every architecture on real shared data: frame- and file-wise accuracy.

    .venv/bin/python bench/cv_shared.py                       # real-mix speech vs music
    .venv/bin/python bench/cv_shared.py --data fsdd-librosa   # FSDD digits vs librosa music
    .venv/bin/python bench/cv_shared.py --max-epochs 30 --patience 5 --threads 1
    .venv/bin/python bench/cv_shared.py --paper-settings         # every network as the paper trains it

Datasets (from ../shared/data; never copied):

``real-mix``
    ``real-mix/manifest.csv``: 119 speech clips (84 speaker groups) and 64 music clips (24 album /
    source groups), 2-30 s at 22050 Hz. Grouped CV: no speaker or album on both sides.
``fsdd-librosa``
    FSDD spoken digits (6 speakers, grouped by speaker; ``--fsdd-per-speaker`` clips each) against
    the 8 music excerpts of librosa-data. Few groups, so 20 % test sets: a weak benchmark.

The protocol is the paper's (grouped, stratified; 10 % test, 10 % validation; patches balanced by
random down-sampling; Adam 1e-3, batches of 64; best weights by validation accuracy) with the
epoch budget cut down (``--max-epochs``, ``--patience``) and at most ``--max-patches-per-clip``
training patches per clip, so that it runs in minutes on two CPU cores. Input: the paper's MelSpec.
Results go to a run directory (``--out``; resumable) and a table is printed.

Each network is trained with its default settings for real data: the ``models`` section of
``experiments/real-mix.yaml`` (input normaliser; for the VGG-like network and SwishNet a longer
epoch budget than ``--max-epochs``/``--patience``; INA's network with two augmented copies of
every training clip, SwishNet with four and gain jitter).
``--paper-settings`` trains every network as the paper does (per-feature max-abs inputs, no
augmentation), within the epoch budget given.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DEFAULTS = Path(__file__).resolve().parents[1] / "experiments" / "real-mix.yaml"
ARCHS = ["ina", "swishnet", "vgg", "dnn"]


def _fsdd_librosa_manifest(out: Path, per_speaker: int) -> Path:
    from speechmusic.data import Clip, DatasetSpec, Manifest, load_dataset

    speech = load_dataset(DatasetSpec(layout="fsdd", root=str(SHARED / "fsdd"), name="fsdd"))
    keep = []
    for clips in ({g: [c for c in speech if c.group == g] for g in speech.groups}).values():
        keep += clips[:: max(1, len(clips) // per_speaker)][:per_speaker]
    music_names = ["147793__setuniman__sweet-waltz-0i-22mi", "442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime",
                   "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra)",
                   "Karissa_Hobbs_-_Lets_Go_Fishin", "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy",
                   "Kevin_MacLeod_-_Vibe_Ace", "admiralbob77_-_Choice_-_Drum-bass", "sorohanro_-_solo-trumpet-06"]
    audio = SHARED / "librosa-data" / "audio"
    music = [Clip(id=f"librosa/{n}", path=str(audio / f"{n}.ogg"), label="music", group=f"librosa:{n}",
                  dataset="fsdd_librosa") for n in music_names]
    manifest = Manifest([Clip(id=c.id, path=c.path, label=c.label, group=c.group, dataset="fsdd_librosa")
                         for c in keep] + music)
    path = out / "fsdd_librosa.csv"
    manifest.save(path)
    return path


def _cell(summary: dict, level: str) -> str:
    acc = summary[level]["accuracy"]
    return f"{100 * acc['mean']:.1f} ± {100 * acc['std']:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["real-mix", "fsdd-librosa"], default="real-mix")
    parser.add_argument("--models", nargs="+", default=ARCHS, choices=ARCHS)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--max-patches-per-clip", type=int, default=8)
    parser.add_argument("--fsdd-per-speaker", type=int, default=40)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1 is fastest on a shared 2-core machine)")
    parser.add_argument("--out", default=None, help="run directory (default: runs/bench-<data>)")
    parser.add_argument("--cache-dir", default=None, help="feature cache (default: the user cache)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config value, e.g. training.gain_jitter_db=12 (repeatable)")
    parser.add_argument("--paper-settings", action="store_true",
                        help=f"the paper's settings for every network instead of {DEFAULTS.name}'s models")
    args = parser.parse_args()

    from speechmusic.training import load_config, run_config
    from speechmusic.training.config import apply_overrides, parse_overrides, training_with

    if not SHARED.exists():
        raise SystemExit(f"shared data not found at {SHARED}")
    import yaml

    defaults = (yaml.safe_load(DEFAULTS.read_text(encoding="utf-8")) or {}).get("models") or {}
    out = Path(args.out or f"runs/bench-{args.data}")
    out.mkdir(parents=True, exist_ok=True)
    if args.data == "real-mix":
        dataset = {"layout": "real_mix", "root": str(SHARED / "real-mix")}
        protocol = {"test_fraction": 0.1, "val_fraction": 0.1}
    else:
        dataset = {"layout": "manifest", "root": str(_fsdd_librosa_manifest(out, args.fsdd_per_speaker))}
        protocol = {"test_fraction": 0.2, "val_fraction": 0.2}
    config = load_config(data=apply_overrides({
        "name": f"bench-{args.data}",
        "cache_dir": args.cache_dir,
        "datasets": {"data": dataset},
        "tasks": {"binary": {"classes": ["music", "speech"]}},
        "models": {m: {**({} if args.paper_settings else defaults.get(m, {})), "name": m, "features": ["melspec"]}
                   for m in args.models},
        "protocol": {"n_folds": args.folds, "max_patches_per_clip": args.max_patches_per_clip, **protocol},
        "training": {"max_epochs": args.max_epochs, "patience": args.patience,
                     "num_threads": args.threads},
        "experiments": [{"datasets": ["data"], "task": "binary", "models": args.models,
                         "name": "{model}-{features}"}],
    }, parse_overrides(args.set)))
    settings = "the paper's settings" if args.paper_settings else f"models as in {DEFAULTS.name}"
    start = time.perf_counter()
    result = run_config(config, out)
    took = time.perf_counter() - start

    print(f"\n{args.data}: speech vs music, {args.folds}-fold grouped CV, MelSpec, "
          f"max {args.max_epochs} epochs, patience {args.patience}, "
          f"<= {args.max_patches_per_clip} training patches per clip"
          f"; {settings}"
          f"{''.join('; ' + s for s in args.set)}; {took / 60:.1f} min")
    print(f"{'model':<10}{'frame acc [%]':>18}{'file acc [%]':>18}{'epochs (mean)':>15}{'max / patience':>16}")
    for name, cv in result.experiments.items():
        s = cv.summary
        arch = name.split('-')[0]
        budget = training_with(config.training, config.models[arch].training)
        epochs = sum(f["fit"]["epochs_run"] for f in cv.folds) / max(1, len(cv.folds))
        print(f"{arch:<10}{_cell(s, 'frame'):>18}{_cell(s, 'file'):>18}{epochs:>15.1f}"
              f"{f'{budget.max_epochs} / {budget.patience}':>16}")
    print(f"features extracted {result.cache_stats.extracted}, from cache {result.cache_stats.hits}; "
          f"skipped clips {len(result.skipped)}; run directory {out}")


if __name__ == "__main__":
    main()
