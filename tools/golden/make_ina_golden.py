"""Produce golden reference files from the ORIGINAL inaSpeechSegmenter 0.6.8.

This script is NOT part of the speechmusic package and is never imported by
it or by the tests.  It runs in a separate virtualenv (/tmp/ina, see
tools/golden/README.md) that has TensorFlow, tf-keras and
inaSpeechSegmenter 0.6.8 installed.  Run it from the repository root:

    TF_USE_LEGACY_KERAS=1 /tmp/ina/bin/python tools/golden/make_ina_golden.py

Options:
    --out DIR          output folder (default tests/data/golden)
    --audio-dir DIR    folder of *.ogg files to segment
                       (default /work/shared/data/librosa-data/audio)
    --skip-segments    only write the synthetic-signal golden files
    --repeats N        timed runs per file and config, fastest kept (default 2)

It writes (all arrays float32 unless said otherwise, np.savez_compressed):
    ina_bands.npz           synthetic 16 kHz signal + ina's front-end output
    ina_pipeline.npz        per-patch network outputs and final segments on
                            the synthetic signal (no ffmpeg involved)
    ina_net_{sm,smn,gender}.npz   fixed input batches and Keras outputs
    ina_decode.npz          ffmpeg's 16 kHz decode of one short .ogg file
    ina_segments/{sm,smn,smn_gender}/<stem>.csv   Segmenter output per file
    ina_segments/timings.json                     wall times + environment

The synthetic waveform is stored in the golden file, so the tests never have
to regenerate it.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# tf-keras (Keras 2) must be used: Keras 3 mis-reads the Reshape input of
# these Keras 2.3.1 files.  Must be set before TensorFlow is imported.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# NumPy-2 shims for the old code paths of inaSpeechSegmenter 0.6.8 and
# pyannote.algorithms (numpy.lib.pad, numpy.int, vstack of a generator).
np.lib.pad = np.pad
np.int = int
_np_vstack = np.vstack
np.vstack = lambda arrays, *a, **k: _np_vstack(list(arrays), *a, **k)

import soundfile  # noqa: E402
import tf_keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import inaSpeechSegmenter  # noqa: E402
from inaSpeechSegmenter import Segmenter  # noqa: E402
from inaSpeechSegmenter import features as ina_features  # noqa: E402
from inaSpeechSegmenter import segmenter as ina_segmenter  # noqa: E402
from inaSpeechSegmenter import sidekit_mfcc  # noqa: E402

SR = 16000
SEED = 20240611
CONFIGS = (("sm", False), ("smn", False), ("smn", True))
N_REAL = 8      # real-feature patches per network golden
N_RANDOM = 8    # random-normal patches per network golden
DECODE_STEM = "456440__inspectorj__bird-whistling-robin-single-13"


# --------------------------------------------------------------------------
# synthetic audio
# --------------------------------------------------------------------------
def make_audio():
    """6 s at 16 kHz, int16.

    Part A (0-4 s): linear chirp 150->5000 Hz + 220 Hz harmonic tone with a
    slow amplitude modulation + white noise.
    Part B (4-6 s): 0.3 s of a 1 kHz tone burst, 0.5 s of digital silence
    (exact zeros -> -inf log energies / log-mel values in ina), then 1.2 s
    of a vibrato harmonic tone (F0 ~ 180 Hz) with noise.
    Only elementary numpy ops and PCG64 normals are used.
    """
    rng = np.random.default_rng(SEED)
    ta = np.arange(4 * SR) / SR
    f0, f1, dur = 150.0, 5000.0, 4.0
    chirp = np.sin(2 * np.pi * (f0 * ta + (f1 - f0) * ta ** 2 / (2 * dur)))
    harm = sum(np.sin(2 * np.pi * 220.0 * k * ta) / k for k in range(1, 7))
    harm = harm / np.max(np.abs(harm)) * (0.6 + 0.4 * np.sin(2 * np.pi * 1.5 * ta))
    part_a = 0.3 * chirp + 0.3 * harm + 0.05 * rng.standard_normal(ta.size)

    n_burst, n_sil, n_tail = int(0.3 * SR), int(0.5 * SR), int(1.2 * SR)
    tb = np.arange(n_burst) / SR
    ramp = np.minimum(1.0, np.minimum(tb, tb[::-1]) / 0.01)
    burst = 0.4 * np.sin(2 * np.pi * 1000.0 * tb) * ramp
    silence = np.zeros(n_sil)
    tt = np.arange(n_tail) / SR
    phase = 2 * np.pi * (180.0 * tt - 8.0 / (2 * np.pi * 5.0) * np.cos(2 * np.pi * 5.0 * tt))
    tail = sum(np.sin(k * phase) / k ** 1.5 for k in range(1, 11))
    tail = 0.5 * tail / np.max(np.abs(tail)) + 0.02 * rng.standard_normal(n_tail)

    x = np.concatenate([part_a, burst, silence, tail])
    pcm = np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)
    bounds = {"part_a": (0, 4 * SR),
              "burst": (4 * SR, 4 * SR + n_burst),
              "silence": (4 * SR + n_burst, 4 * SR + n_burst + n_sil),
              "tail": (4 * SR + n_burst + n_sil, pcm.size)}
    return pcm, bounds


def ina_features_of_pcm(pcm, tmpdir, name):
    """Run ina's own media2feats (ffmpeg -> 16 kHz wav -> sidekit mfcc)."""
    src = os.path.join(tmpdir, name + "_src.wav")
    soundfile.write(src, pcm, SR, subtype="PCM_16")
    mspec, loge, difflen = ina_features.media2feats(src, tmpdir, None, None, "ffmpeg")
    # same thing without ffmpeg (16k s16 -> 16k s16 is a pass-through)
    mspec2, loge2, difflen2 = ina_features._wav2feats(src)
    assert difflen == difflen2
    np.testing.assert_array_equal(mspec, mspec2)
    np.testing.assert_array_equal(loge, loge2)
    return mspec, loge, difflen


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def seg_arrays(lseg):
    labels = np.array([s[0] for s in lseg], dtype="U16")
    start = np.array([s[1] for s in lseg], dtype=np.float64)
    stop = np.array([s[2] for s in lseg], dtype=np.float64)
    return labels, start, stop


def write_csv(path, lseg):
    with open(path, "w") as f:
        f.write("label,start,stop\n")
        for lab, start, stop in lseg:
            f.write("%s,%r,%r\n" % (lab, float(start), float(stop)))


def net_of(seg, name):
    return seg.gender if name == "gender" else seg.vad


def sub_outputs(nn, x):
    """Outputs of Flatten (conv stack) and of the last Dropout (input to the
    final Dense) for batch x, at inference (training=False)."""
    flat_layer = [l for l in nn.layers if isinstance(l, tf_keras.layers.Flatten)][0]
    sub = tf_keras.Model(inputs=nn.inputs,
                         outputs=[flat_layer.output, nn.layers[-2].output])
    flat, pen = sub.predict(x, batch_size=32, verbose=0)
    return flat.astype(np.float32), pen.astype(np.float32)


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/golden")
    ap.add_argument("--audio-dir", default="/work/shared/data/librosa-data/audio")
    ap.add_argument("--skip-segments", action="store_true")
    ap.add_argument("--repeats", type=int, default=2,
                    help="timed runs per file; the fastest is reported")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg not found (apt-get install -y ffmpeg)")
    tf_keras.utils.disable_interactive_logging()   # no progress bars
    ina_dir = Path(inaSpeechSegmenter.__file__).parent

    print("loading Segmenters ...", flush=True)
    segs = {}
    for engine, gender in CONFIGS:
        segs[(engine, gender)] = Segmenter(vad_engine=engine, detect_gender=gender)
    nets = {"sm": segs[("sm", False)].vad,
            "smn": segs[("smn", False)].vad,
            "gender": segs[("smn", True)].gender}

    # ---------------- front end on the synthetic signal -----------------
    pcm, bounds = make_audio()
    short = pcm[:8000].copy()          # 0.5 s -> 48 frames < 68: padding path
    with tempfile.TemporaryDirectory() as tmpdir:
        mspec, loge, difflen = ina_features_of_pcm(pcm, tmpdir, "synth")
        s_mspec, s_loge, s_difflen = ina_features_of_pcm(short, tmpdir, "short")
    assert difflen == 0 and s_difflen > 0
    sig = pcm.astype(np.float32) / np.float32(32768.0)
    spec, loge_ps = sidekit_mfcc.power_spectrum(sig, fs=SR, win_time=0.025,
                                                shift=0.01, prefac=0.97)
    fbank, fbank_freqs = sidekit_mfcc.trfbank(SR, 512, 100, 8000, 0, 24)
    np.testing.assert_array_equal(loge_ps, loge)

    threshold = np.mean(loge[np.isfinite(loge)]) + np.log(0.03)
    raw_activity = loge > threshold
    energy_activity = np.asarray(ina_segmenter._energy_activity(loge)).astype(np.int8)

    np.savez_compressed(
        out / "ina_bands.npz",
        audio_int16=pcm, sr=np.int64(SR),
        segments_bounds=np.array([bounds[k] for k in ("part_a", "burst", "silence", "tail")],
                                 dtype=np.int64),
        segments_names=np.array(["part_a", "burst", "silence", "tail"]),
        mspec=mspec.astype(np.float32), loge=loge.astype(np.float32),
        difflen=np.int64(difflen),
        spec_head=spec[:16].astype(np.float32),
        fbank=fbank.astype(np.float32), fbank_freqs=np.asarray(fbank_freqs, np.float64),
        energy_threshold=np.float64(threshold),
        raw_activity=raw_activity, energy_activity=energy_activity,
        short_audio_int16=short, short_mspec=s_mspec.astype(np.float32),
        short_loge=s_loge.astype(np.float32), short_difflen=np.int64(s_difflen),
        ina_version=np.array("inaSpeechSegmenter 0.6.8"),
    )
    print("mspec", mspec.shape, mspec.dtype, "loge", loge.shape,
          "non-finite frames", int((~np.isfinite(loge)).sum()), flush=True)

    # ---------------- per-network golden batches -------------------------
    for k, (name, dnn) in enumerate(nets.items()):
        nmel = dnn.nmel
        patches, finite = ina_segmenter._get_patches(mspec[:, :nmel].copy(), 68, 2)
        fin_idx = np.flatnonzero(finite)
        pick = fin_idx[np.round(np.linspace(0, fin_idx.size - 1, N_REAL)).astype(int)]
        rng = np.random.default_rng(SEED + 100 + k)
        rnd = rng.standard_normal((N_RANDOM, 68, nmel)).astype(np.float32)
        x = np.concatenate([patches[pick].astype(np.float32), rnd]).astype(np.float32)
        nn = dnn.nn
        probs = nn.predict(x, batch_size=32, verbose=0).astype(np.float32)
        flat, pen = sub_outputs(nn, x)
        last = nn.layers[-1]
        w, b = [v.numpy() for v in last.weights]
        logits = (pen.astype(np.float64) @ w.astype(np.float64) + b).astype(np.float32)
        err = np.abs(softmax(logits.astype(np.float64)) - probs).max()
        assert err < 1e-5, err
        # probs of a single-sample predict (batch independence check)
        probs_single = np.concatenate(
            [nn.predict(x[i:i + 1], verbose=0) for i in range(len(x))]).astype(np.float32)
        np.savez_compressed(
            out / ("ina_net_%s.npz" % name),
            x=x, probs=probs, logits=logits, flatten=flat, penultimate=pen,
            probs_single=probs_single,
            input_shape=np.array(nn.input_shape[1:], dtype=np.int64),
            patch_index=pick.astype(np.int64), n_real=np.int64(N_REAL),
            labels=np.array(dnn.outlabels), model_file=np.array(dnn.model_fname),
            viterbi_arg=np.int64(dnn.viterbi_arg), nmel=np.int64(nmel),
        )
        print("net %-6s x %s probs[0] %s logits[0] %s softmax-err %.2g" %
              (name, x.shape, probs[0], logits[0], err), flush=True)

    # ---------------- whole pipeline on the synthetic signal -------------
    pipe = {}
    for nmel in (21, 24):
        patches, finite = ina_segmenter._get_patches(mspec[:, :nmel].copy(), 68, 2)
        pipe["finite_%d" % nmel] = finite
    for name, dnn in nets.items():
        patches, _ = ina_segmenter._get_patches(mspec[:, :dnn.nmel].copy(), 68, 2)
        pipe["rawprob_" + name] = dnn.nn.predict(patches, batch_size=32,
                                                 verbose=0).astype(np.float32)
    for engine, gender in CONFIGS:
        tag = engine + ("_gender" if gender else "")
        lseg = segs[(engine, gender)].segment_feats(mspec, loge, difflen, 0)
        pipe["seg_%s_labels" % tag], pipe["seg_%s_start" % tag], pipe["seg_%s_stop" % tag] = \
            seg_arrays(lseg)
        print("synthetic", tag, lseg, flush=True)
        lseg = segs[(engine, gender)].segment_feats(s_mspec, s_loge, s_difflen, 0)
        (pipe["short_seg_%s_labels" % tag], pipe["short_seg_%s_start" % tag],
         pipe["short_seg_%s_stop" % tag]) = seg_arrays(lseg)
    np.savez_compressed(out / "ina_pipeline.npz", **pipe)

    if args.skip_segments:
        return

    # ---------------- ffmpeg decode golden -------------------------------
    audio_dir = Path(args.audio_dir)
    files = sorted(audio_dir.glob("*.ogg"))
    dec_src = audio_dir / (DECODE_STEM + ".ogg")
    with tempfile.TemporaryDirectory() as tmpdir:
        wav = os.path.join(tmpdir, "d.wav")
        subprocess.run(["ffmpeg", "-y", "-i", str(dec_src), "-ar", "16000", "-ac", "1", wav],
                       check=True, capture_output=True)
        dec16, dsr = soundfile.read(wav, dtype="int16")
        assert dsr == SR
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(dec_src), "-f", "f32le",
                              "-ac", "1", "-"], check=True, capture_output=True).stdout
        native = np.frombuffer(raw, dtype="<f4").copy()
        d_mspec, d_loge, d_difflen = ina_features.media2feats(str(dec_src), tmpdir, None,
                                                              None, "ffmpeg")
    info = soundfile.info(str(dec_src))
    np.savez_compressed(
        out / "ina_decode.npz", stem=np.array(DECODE_STEM), audio16k_int16=dec16,
        native_float32=native, native_sr=np.int64(info.samplerate),
        mspec=d_mspec.astype(np.float32), loge=d_loge.astype(np.float32),
        ffmpeg_args=np.array("ffmpeg -y -i IN -ar 16000 -ac 1 OUT.wav"),
    )

    # ---------------- Segmenter on the real files -----------------------
    seg_root = out / "ina_segments"
    timings = {"files": {}, "configs": {}}
    for engine, gender in CONFIGS:
        tag = engine + ("_gender" if gender else "")
        seg = segs[(engine, gender)]
        (seg_root / tag).mkdir(parents=True, exist_ok=True)
        seg(str(files[0]))   # warm-up (tf.function tracing), not timed
        tot_audio = tot_wall = 0.0
        per = {}
        for f in files:
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                feats = ina_features.media2feats(str(f), None, None, None, seg.ffmpeg)
                t1 = time.perf_counter()
                lseg = seg.segment_feats(*feats, 0)
                t2 = time.perf_counter()
                runs.append((t2 - t0, t1 - t0, t2 - t1, lseg))
            assert all(r[3] == runs[0][3] for r in runs), "non-deterministic output"
            write_csv(seg_root / tag / (f.stem + ".csv"), lseg)
            dur = soundfile.info(str(f)).duration
            best = min(runs, key=lambda r: r[0])   # fastest repeat
            per[f.stem] = {"decode_features_s": round(best[1], 4),
                           "segment_s": round(best[2], 4),
                           "total_s": round(best[0], 4),
                           "total_s_all_repeats": [round(r[0], 4) for r in runs],
                           "x_realtime": round(dur / best[0], 2)}
            timings["files"].setdefault(f.stem, {"duration_s": round(dur, 4),
                                                 "n_frames_10ms": int(len(feats[1]))})
            tot_audio += dur
            tot_wall += best[0]
            print("%-10s %-70s %6.1fs audio %6.2fs wall" % (tag, f.stem, dur, best[0]),
                  flush=True)
        timings["configs"][tag] = {"per_file": per, "total_audio_s": round(tot_audio, 3),
                                   "total_wall_s": round(tot_wall, 3),
                                   "x_realtime": round(tot_audio / tot_wall, 2)}

    wheel = Path("/tmp/ina_wheel/inaSpeechSegmenter-0.6.8-py3-none-any.whl")
    ffv = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    timings["env"] = {
        "note": "wall time per file with models already loaded; total = ffmpeg decode "
                "+ features + segment_feats (same work as Segmenter.__call__); "
                "one untimed warm-up call per config; fastest of --repeats runs",
        "python": platform.python_version(), "numpy": np.__version__,
        "tensorflow": tf.__version__, "tf_keras": tf_keras.__version__,
        "ffmpeg": ffv.splitlines()[0] if ffv else None,
        "cpu_count": os.cpu_count(), "machine": platform.machine(),
        "wheel_sha256": sha256(wheel) if wheel.exists() else None,
        "model_sha256": {p.name: sha256(p) for p in sorted(ina_dir.glob("*.hdf5"))},
    }
    with open(seg_root / "timings.json", "w") as f:
        json.dump(timings, f, indent=1, sort_keys=True)
    print(json.dumps({k: v["x_realtime"] for k, v in timings["configs"].items()}))


if __name__ == "__main__":
    main()
