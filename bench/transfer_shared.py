"""A small transfer study on ../shared/data, printed as the paper's Table 2 with wall times.

    .venv/bin/python bench/transfer_shared.py [--out runs/bench-transfer] [--epochs 6]
        [--pretrain-epochs 8] [--per-speaker 50] [--folds 5] [--fresh]

* pre-training: INA, VGG-like and SwishNet (MelSpec) learn speech vs music on real-mix
  (../shared/data/real-mix, grouped by speaker / album; one fold: 80 % train, 10 % validation,
  10 % test);
* target: speaker identification on FSDD (6 speakers, ``--per-speaker`` recordings each, grouped
  by digit and take: the same words for every speaker in a test fold), 5-fold;
* rows: every architecture's embeddings frozen / intermediate / full, the architecture from
  scratch (Orig), the DNN baseline, INA's published network and YAMNet (+ 128-unit MLP); OpenL3
  reads n/a unless its weights are found (SPEECHMUSIC_OPENL3_WEIGHTS).

Few epochs (defaults: 8 for pre-training, 6 per target fold, patience 3) so that it fits ~10 min
on 2 CPU cores: the numbers show the pipeline, not converged accuracies. Re-running into the same
``--out`` reuses finished folds (``--fresh`` deletes it first); features are cached under the run
directory.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

import torch

from speechmusic.data import DatasetSpec, load_dataset
from speechmusic.data.manifest import Clip, Manifest
from speechmusic.transfer.config import load_transfer_config
from speechmusic.transfer.report import table2_markdown
from speechmusic.transfer.runner import run_transfer

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def fsdd_speakers(out: Path, per_speaker: int) -> Path:
    """A manifest of FSDD labelled by speaker: takes ``0 .. per_speaker // 10 - 1`` of every digit
    for every speaker. The group is ``<digit>_<take>``: one recording of each speaker per group,
    so a test fold holds the same words for all six speakers."""
    clips = load_dataset(DatasetSpec(layout="fsdd", root=str(SHARED / "fsdd"),
                                     options={"label_from": "speaker"}))
    takes = max(1, per_speaker // 10)
    kept = []
    for c in clips:
        digit, speaker, take = Path(c.path).stem.split("_")
        if int(take) < takes:
            kept.append(Clip(id=c.id, path=c.path, label=speaker, group=f"{digit}_{take}",
                             dataset="fsdd"))
    return Manifest(sorted(kept, key=lambda c: c.id)).save(out / "fsdd-speakers.csv")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/bench-transfer")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--pretrain-epochs", type=int, default=4)
    ap.add_argument("--per-speaker", type=int, default=30)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args()
    if not (SHARED / "real-mix" / "manifest.csv").is_file() or not (SHARED / "fsdd").is_dir():
        raise SystemExit(f"needs {SHARED}/real-mix and {SHARED}/fsdd")
    out = Path(args.out)
    if args.fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)
    manifest = fsdd_speakers(out, args.per_speaker)
    speakers = sorted({c.label for c in Manifest.load(manifest)})
    data = {
        "name": "bench-transfer",
        "cache_dir": str(out / "cache"),
        "datasets": {
            "real_mix": {"layout": "real_mix", "root": str(SHARED / "real-mix")},
            "fsdd": {"layout": "manifest", "root": str(manifest)},
        },
        "tasks": {"binary": {"classes": ["music", "speech"]}, "speaker": {"classes": speakers}},
        "features": {"melspec": {"preset": "melspec"}},
        "models": {m: {"name": m, "features": ["melspec"]} for m in ("ina", "vgg", "swishnet", "dnn")},
        "protocol": {"n_folds": args.folds, "test_fraction": 0.1, "val_fraction": 0.1,
                     "short_clips": "pad", "max_patches_per_clip": 32},
        "training": {"max_epochs": args.epochs, "patience": 3, "num_threads": args.threads},
        "pretrain": {"datasets": ["real_mix"], "task": "binary", "fold": 0,
                     "max_patches_per_clip": 8,
                     "training": {"max_epochs": args.pretrain_epochs, "patience": 3,
                                  "num_threads": args.threads}},
        "architectures": ["ina", "vgg", "swishnet"],
        "baselines": ["dnn"],
        "embedders": {
            "ina_published": {"kind": "ina", "title": "INA-published", "optional": True},
            "yamnet": {"kind": "yamnet", "optional": True},
            "openl3": {"kind": "openl3", "optional": True,
                       "params": {"input_repr": "mel256", "embedding_size": 512}},
        },
        "targets": [{"name": "speaker", "title": "Speaker on FSDD (6)", "datasets": ["fsdd"],
                     "task": "speaker"}],
    }
    config = load_transfer_config(data=data)
    start = time.perf_counter()
    result = run_transfer(config, out, on_event=lambda m: print(f"[{time.perf_counter() - start:6.1f} s] {m}",
                                                                flush=True))
    total = time.perf_counter() - start
    print()
    print(table2_markdown(result.table, level="frame"))
    print()
    print("file-wise:")
    print(table2_markdown(result.table, level="file"))
    print()
    print("wall time per row (s, all folds; '-' = reused from an earlier run):")
    for name in result.experiments:
        print(f"  {name:<40} {result.seconds.get(name, float('nan')):7.1f}")
    print(f"total {total:.0f} s on {args.threads} thread(s); run directory {out} "
          f"(table2.md, table2.csv, report.html); skipped clips: {len(result.skipped)}")


if __name__ == "__main__":
    main()
