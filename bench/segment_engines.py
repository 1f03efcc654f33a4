"""Speed, memory and fast/exact agreement of checkpoints trained here, run as segmenter engines.

    .venv/bin/python bench/segment_engines.py [--archs vgg ina dnn swishnet] [--run-dir runs/segment-engines]
                                              [--epochs 3] [--minutes 10] [--modes fast exact]
                                              [--engine MODEL_DIR_OR_CHECKPOINT_OR_sm/smn ...]

``--engine`` adds engines as they are (a ``speechmusic train`` folder, a checkpoint, INA's ``smn``):
``--archs --engine my-engine --engine smn`` measures a trained engine beside INA's own.

1. Trains (or loads, when its run directory already holds them) one checkpoint per architecture on
   ../shared/data/real-mix: speech / music / noise, the paper's MelSpec (22050 Hz, n_fft 2048, hop
   512, 128 bands, 10-frame patches), a band-wise normaliser fitted on the clips, a few epochs on
   every clip (no cross-validation: what is measured is the engine, not its accuracy), at most
   ``--patches-per-clip`` patches per clip. Checkpoints go to ``RUN_DIR/<arch>.pt``.
2. Writes the librosa-data recordings concatenated and tiled to ``--minutes`` minutes (as
   ``bench/segment_vs_ina.py`` and ``bench/segment_long.py`` do) as a 22050 Hz WAV.
3. Segments it with every engine in each mode, each run in a fresh process tuned as the
   ``speechmusic`` command tunes its own (``cli._process.tune_process``), models loaded and warmed
   on 20 s first, and reports: x real time (wall), audio seconds per CPU second of the process
   (a figure that holds up while other processes share the cores), peak resident memory (the
   process's VmHWM), and for fast mode the share of 20 ms frames whose label equals the exact
   mode's and the largest probability difference.

The host's load average is printed with each run: timings on a shared machine are only
comparable within one run of this script.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
AUDIO = SHARED / "librosa-data" / "audio"
REAL_MIX = SHARED / "real-mix"
LABELS = ["speech", "music", "noise"]
ARCHS = ["vgg", "ina", "dnn", "swishnet"]

CHILD = r"""
import json, os, sys, time
from speechmusic.cli._process import tune_process
tune_process()
import numpy as np
from speechmusic.segment import Segmenter, labels_on_grid
ckpt, mode, path, warm, out = sys.argv[1:6]
seg = Segmenter(ckpt, mode=mode)
seg(warm)
c0, t0 = time.process_time(), time.perf_counter()
a = seg.analyse(path)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
peak = [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
n = len(a.active)
np.save(out, a.probs)
print(json.dumps({"wall": wall, "cpu": cpu, "peak_kib": peak, "duration": a.duration,
                  "labels": labels_on_grid(a.segments, n).tolist(), "load": os.getloadavg()[0]}))
"""


def train_checkpoints(archs: list[str], run_dir: Path, *, epochs: int, patches_per_clip: int,
                      seed: int = 0) -> dict[str, Path]:
    """One checkpoint per architecture in ``run_dir`` (trained unless already there)."""
    paths = {a: run_dir / f"{a}.pt" for a in archs}
    todo = [a for a in archs if not paths[a].is_file()]
    if not todo:
        return paths
    if not REAL_MIX.exists():
        sys.exit(f"no real-mix data at {REAL_MIX}: cannot train the engines")
    from speechmusic.data import DatasetSpec, load_dataset
    from speechmusic.features import FeatureConfig, FeatureNormalizer
    from speechmusic.models import build_model, save_checkpoint
    from speechmusic.training import FeatureCache, PatchSet, TrainConfig, fit

    cfg = FeatureConfig.preset("melspec")
    clips = [c for c in load_dataset(DatasetSpec(layout="real_mix", root=str(REAL_MIX), name="real_mix"))
             if c.label in LABELS]
    cache = FeatureCache(run_dir / "features")
    t = time.perf_counter()
    refs = [cache.ref(c, cfg) for c in clips]
    print(f"features of {len(clips)} real-mix clips: {time.perf_counter() - t:.1f} s", flush=True)
    y = [LABELS.index(c.label) for c in clips]
    norm = FeatureNormalizer().fit(r.load() for r in refs)
    train = PatchSet(refs, y, patch_frames=cfg.patch_frames, hop=cfg.hop, normalizer=norm,
                     max_patches_per_clip=patches_per_clip, pad=True)
    train = train.balanced(rng=np.random.default_rng(seed))
    train.materialize(max_bytes=1 << 30)
    config = TrainConfig(max_epochs=epochs, patience=None, num_threads=None)
    for arch in todo:
        model = build_model(arch, n_classes=len(LABELS), input_shape=cfg.patch_shape)
        t = time.perf_counter()
        result = fit(model, train, None, config=config, seed=seed, desc=f"{arch} ({len(train)} patches)")
        acc = result.history[-1].train_accuracy if result.history else float("nan")
        save_checkpoint(paths[arch], model=model.eval(), labels=LABELS, feature_config=cfg, normalizer=norm,
                        extra={"bench": "segment_engines", "epochs": epochs, "train_accuracy": acc})
        print(f"trained {arch}: {epochs} epochs, training accuracy {acc:.3f}, "
              f"{time.perf_counter() - t:.0f} s -> {paths[arch]}", flush=True)
    return paths


def write_programme(path: Path, minutes: float, sr: int = 22050) -> float:
    from speechmusic.audio import load_audio

    if not AUDIO.exists():
        sys.exit(f"no librosa-data recordings at {AUDIO}")
    audio = np.concatenate([load_audio(f, sr=sr, normalize=False) for f in sorted(AUDIO.glob("*.ogg"))])
    n = int(round(minutes * 60 * sr))
    sf.write(path, np.resize(audio, n), sr)
    return n / sr


def run(ckpt: Path, mode: str, path: Path, warm: Path, probs_out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ckpt), mode, str(path), str(warm), str(probs_out)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="*", default=["vgg", "ina", "dnn"], choices=ARCHS)
    parser.add_argument("--engine", action="append", default=[],
                        help="an engine to measure as it is (model folder, checkpoint, sm or smn)")
    parser.add_argument("--run-dir", type=Path, default=ROOT / "runs" / "segment-engines",
                        help="where the trained checkpoints are kept (reused when present)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--patches-per-clip", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the test programme")
    parser.add_argument("--modes", nargs="+", default=["fast", "exact"], choices=["fast", "exact"])
    args = parser.parse_args()

    args.run_dir.mkdir(parents=True, exist_ok=True)
    paths = train_checkpoints(args.archs, args.run_dir, epochs=args.epochs,
                              patches_per_clip=args.patches_per_clip) if args.archs else {}
    for engine in args.engine:
        name = engine if engine in ("sm", "smn") else Path(engine).name
        paths[name] = engine
    names = list(paths)
    print(f"host: {os.cpu_count()} CPUs; load average at start {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        programme, warm = Path(tmp) / "programme.wav", Path(tmp) / "warm.wav"
        seconds = write_programme(programme, args.minutes)
        write_programme(warm, 20 / 60)
        print(f"programme: librosa-data concatenated, {seconds / 60:.1f} min", flush=True)
        for arch in names:
            res = {}
            for mode in args.modes:
                out = Path(tmp) / f"{arch}-{mode}.npy"
                res[mode] = run(paths[arch], mode, programme, warm, out)
                res[mode]["probs"] = np.load(out)
                r = res[mode]
                print(f"  {arch[:9]:9s} {mode:5s}: {seconds / r['wall']:6.1f}x real time (wall {r['wall']:.1f} s), "
                      f"{seconds / r['cpu']:6.1f} audio s per CPU s, peak RSS {r['peak_kib'] / 2**10:.0f} MiB, "
                      f"load {r['load']:.1f}", flush=True)
            agree = diff = None
            if "fast" in res and "exact" in res:
                a, b = np.asarray(res["fast"]["labels"]), np.asarray(res["exact"]["labels"])
                agree = float((a == b).mean())
                diff = float(np.nanmax(np.abs(res["fast"]["probs"] - res["exact"]["probs"])))
            rows.append((arch, res, agree, diff))

    print(f"\n{args.minutes:g}-minute librosa-data programme; checkpoints in {args.run_dir}; "
          f"each run in its own tuned process, models warmed")
    header = (f"{'engine':9s} {'mode':5s} {'x real time':>12s} {'audio s / CPU s':>16s} {'peak RSS':>9s} "
              f"{'load':>5s} {'frames = exact':>15s} {'max |dp|':>9s}")
    print(header + "\n" + "-" * len(header))
    for arch, res, agree, diff in rows:
        for mode, r in res.items():
            tail = (f"{agree:15.4%} {diff:9.1e}" if mode == "fast" and agree is not None else f"{'':15s} {'':9s}")
            print(f"{arch[:9]:9s} {mode:5s} {seconds / r['wall']:12.1f} {seconds / r['cpu']:16.1f} "
                  f"{r['peak_kib'] / 2**10:8.0f}M {r['load']:5.1f} {tail}")


if __name__ == "__main__":
    main()
