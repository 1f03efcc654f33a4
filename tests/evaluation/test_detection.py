"""Speech/music detection scores (MIREX 2018's): equal to sed_eval called directly, as MIREX's
scorer calls it; bootstrap intervals equal to a resampling done here; every segment format scores
the same; labels, durations and files handled as documented."""

from __future__ import annotations

import json
import math
import sys
import warnings

import numpy as np
import pytest
import soundfile as sf

from speechmusic.errors import ConfigError, SpeechMusicError
from speechmusic.evaluation import detection
from speechmusic.evaluation.detection import (
    GAP,
    DetectionSettings,
    class_events,
    evaluate_detection,
    pair_files,
    read_events,
    recording_duration,
    score_detection,
    score_file,
)
from speechmusic.segment.formats import EXTENSIONS, FORMATS, Segment, write_segments

CLASSES = ("speech", "music")


# ------------------------------------------------------------------------- generated pairs
def _class_events(rng, duration: float, *, start_at_zero: bool, end_at_end: bool) -> list:
    """Disjoint, non-touching events on a 1 ms grid within [0, duration]."""
    out, t = [], 0.0 if start_at_zero else float(rng.uniform(0.05, 2.0))
    while t < duration - 0.1:
        stop = t + float(rng.uniform(0.1, 4.0))
        if stop >= duration - 0.05:
            if end_at_end:
                out.append((round(t, 3), duration))
            break
        out.append((round(t, 3), round(stop, 3)))
        t = stop + float(rng.uniform(0.06, 3.0))
    return out


def _disjoint(events: list) -> list:
    out = []
    for a, b in sorted(events):
        if b - a >= 0.01 and (not out or a > out[-1][1] + 0.002):
            out.append((a, b))
    return out


def _estimate(rng, ref: list, duration: float) -> list:
    """The reference's events moved by up to 0.8 s (inside the collar or not), some dropped,
    some inserted."""
    out = []
    for a, b in ref:
        if rng.random() < 0.2:
            continue
        a = min(max(0.0, round(a + float(rng.uniform(-0.8, 0.8)), 3)), duration)
        b = min(max(0.0, round(b + float(rng.uniform(-0.8, 0.8)), 3)), duration)
        out.append((a, b))
    for _ in range(int(rng.integers(0, 3))):
        a = round(float(rng.uniform(0, duration)), 3)
        out.append((a, round(min(duration, a + float(rng.uniform(0.2, 3))), 3)))
    return _disjoint(out)


def _segments(events: dict) -> list[Segment]:
    return [Segment(c, a, b) for c, ivs in events.items() for a, b in ivs]


def generated_files(seed: int = 0, n: int = 8, max_seconds: float = 15.0) -> dict:
    """name -> (reference events, estimate events, duration), with an empty reference, an empty
    estimate, both empty, events touching both ends, and speech overlapping music."""
    rng = np.random.default_rng(seed)
    files = {}
    for i in range(n):
        duration = round(float(rng.uniform(3.0, max_seconds)), 3)
        ref = {c: _class_events(rng, duration, start_at_zero=(i + k) % 2 == 0,
                                end_at_end=(i + k) % 3 == 0) for k, c in enumerate(CLASSES)}
        est = {c: _estimate(rng, ref[c], duration) for c in CLASSES}
        if i == 1:
            ref = {c: [] for c in CLASSES}
        if i == 2:
            est = {c: [] for c in CLASSES}
        if i == 3:
            ref = {c: [] for c in CLASSES}
            est = {c: [] for c in CLASSES}
        if i == 4:  # touching both ends, in both classes, on both sides
            ref = {"speech": [(0.0, duration)], "music": [(0.0, 1.0), (2.0, duration)]}
            est = {"speech": [(0.0, duration)], "music": [(0.0, 1.4), (2.3, duration)]}
        files[f"f{i}"] = (ref, est, duration)
    return files


# ------------------------------------------------------------------------- sed_eval, directly
def _containers(events: dict, duration: float | None):
    """sed_eval's input; with ``duration``, time annotated with no class filled with '-' as
    MIREX's fill_event_gaps does."""
    from dcase_util.containers import MetaDataContainer

    items = [{"event_label": c, "onset": a, "offset": b} for c, ivs in events.items() for a, b in ivs]
    if duration is not None:
        t = 0.0
        for a, b in sorted((a, b) for ivs in events.values() for a, b in ivs):
            if a > t:
                items.append({"event_label": GAP, "onset": t, "offset": a})
            t = max(t, b)
        if duration > t:
            items.append({"event_label": GAP, "onset": t, "offset": duration})
    return MetaDataContainer(items)


def _mirex_results(seg, ev) -> dict:
    """What MIREX 2018's scorer reads from sed_eval's results (its compute_file_statistics)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        s, e = seg.results(), ev.results()
    segment = {c: dict(s["class_wise"][c]["f_measure"]) for c in (*CLASSES, GAP)}
    n_ref = seg.overall["Nref"]
    segment["overall"] = {"accuracy": seg.overall["Ntp"] / n_ref if n_ref else math.nan}
    event = {}
    for c in CLASSES:
        event[c] = {**e["class_wise"][c]["f_measure"], **e["class_wise"][c]["error_rate"]}
    event["overall"] = {**e["overall"]["f_measure"], **e["overall"]["error_rate"]}
    return {"segment": segment, "event": event}


def _metric_objects(settings: DetectionSettings):
    sed_eval = detection._sed_eval()
    seg = sed_eval.sound_event.SegmentBasedMetrics([*CLASSES, GAP], time_resolution=settings.time_resolution)
    ev = sed_eval.sound_event.EventBasedMetrics(
        list(CLASSES), t_collar=settings.collar, percentage_of_length=settings.offset_fraction,
        evaluate_onset=True, evaluate_offset=settings.offsets)
    return seg, ev


def _evaluate(seg, ev, ref: dict, est: dict, duration: float) -> None:
    seg.evaluate(_containers(ref, duration), _containers(est, duration))
    ev.evaluate(_containers(ref, None), _containers(est, None))


def _assert_same(ours: dict, theirs: dict, where: str = "") -> None:
    for key, value in theirs.items():
        if isinstance(value, dict):
            _assert_same(ours[key], value, f"{where}/{key}")
        elif isinstance(value, list):  # an interval
            _assert_same(dict(enumerate(ours[key])), dict(enumerate(value)), f"{where}/{key}")
        else:
            mine = ours[key]
            assert (math.isnan(mine) and math.isnan(value)) or abs(mine - value) <= 1e-9, \
                (where, key, mine, value)


def _pairs(files: dict) -> tuple[dict, dict]:
    pairs = {n: (_segments(r), _segments(e)) for n, (r, e, _) in files.items()}
    return pairs, {n: d for n, (_, _, d) in files.items()}


SETTINGS = [DetectionSettings(),  # MIREX 2018: 10 ms, onsets within 0.5 s
            DetectionSettings(collar=0.2, offsets=True, offset_fraction=0.2),  # DCASE's
            DetectionSettings(collar=0.5, offsets=True, time_resolution=0.02)]


@pytest.mark.parametrize("settings", SETTINGS, ids=["mirex", "dcase", "offsets"])
def test_scores_equal_sed_eval_called_directly(settings):
    files = generated_files(seed=1)
    pairs, durations = _pairs(files)
    results = score_detection(pairs, settings=settings, durations=durations, n_boot=0)
    seg_all, ev_all = _metric_objects(settings)
    for name, (ref, est, duration) in files.items():
        seg, ev = _metric_objects(settings)
        _evaluate(seg, ev, ref, est, duration)
        _evaluate(seg_all, ev_all, ref, est, duration)
        ours = results.files[name]
        # the counts are sed_eval's, exactly (segment counts are taken with NumPy)
        assert ours.counts["segment"]["overall"] == seg.overall
        assert ours.counts["segment"]["class_wise"] == seg.class_wise
        assert ours.counts["event"] == {"overall": ev.overall, "class_wise": ev.class_wise}
        _assert_same(ours.metrics, _mirex_results(seg, ev), name)
    _assert_same(results.overall, _mirex_results(seg_all, ev_all), "overall")
    assert results.ci95 is None


def test_overlapping_classes_are_independent_activities():
    ref = [Segment("speech", 0, 4), Segment("music", 2, 6)]
    est = [Segment("speech+music", 0, 6)]
    f = score_file(ref, est, duration=6.0)
    seg = f.metrics["segment"]
    assert seg["speech"]["recall"] == 1.0 and seg["speech"]["precision"] == pytest.approx(4 / 6)
    assert seg["music"]["recall"] == 1.0 and seg["music"]["precision"] == pytest.approx(4 / 6)
    assert seg["overall"]["accuracy"] == pytest.approx(1.0)  # every reference activity found
    assert f.metrics["event"]["speech"]["f_measure"] == 1.0  # onsets at 0 and 0
    assert f.metrics["event"]["music"]["f_measure"] == 0.0  # 2 s against 0 s


def test_bootstrap_intervals_equal_a_resampling_of_the_files():
    settings = DetectionSettings(time_resolution=0.1)  # coarse segments: a fast direct resampling
    files = generated_files(seed=2, n=6)
    pairs, durations = _pairs(files)
    n_boot, seed = 40, 7
    results = score_detection(pairs, settings=settings, durations=durations, n_boot=n_boot, seed=seed)
    names = list(files)
    idx = np.random.default_rng(seed).integers(0, len(names), size=(n_boot, len(names)))
    replicates = []
    for row in idx:
        seg, ev = _metric_objects(settings)
        for i in row:
            ref, est, duration = files[names[i]]
            _evaluate(seg, ev, ref, est, duration)
        replicates.append(_mirex_results(seg, ev))
    for base, tree in results.ci95.items():
        for label, metrics in tree.items():
            for key, (lo, hi) in metrics.items():
                values = np.array([r[base][label][key] for r in replicates], dtype=float)
                if np.isnan(values).all():
                    assert math.isnan(lo) and math.isnan(hi)
                    continue
                want = np.nanpercentile(values, [2.5, 97.5])
                assert lo == pytest.approx(want[0], abs=1e-9) and hi == pytest.approx(want[1], abs=1e-9)
    assert results.ci95["segment"]["speech"]["f_measure"][0] < results.ci95["segment"]["speech"]["f_measure"][1]
    # the same seed gives the same intervals; another seed, others
    again = score_detection(pairs, settings=settings, durations=durations, n_boot=n_boot, seed=seed)
    assert again.ci95 == results.ci95
    other = score_detection(pairs, settings=settings, durations=durations, n_boot=n_boot, seed=seed + 1)
    assert other.ci95 != results.ci95


# ------------------------------------------------------------------------- formats
def _flat_programme(seed: int, seconds: float = 30.0) -> list[Segment]:
    """A segmenter's output: contiguous segments on the 20 ms grid covering the file, INA's
    labels and a flat 'speech+music'."""
    rng = np.random.default_rng(seed)
    labels = ["speech", "music", "noise", "noEnergy", "male", "female", "speech+music"]
    out, k, end = [], 0, int(seconds / 0.02)
    while k < end:
        n = min(end - k, int(rng.integers(10, 300)))
        out.append(Segment(str(rng.choice(labels)), round(k * 0.02, 2), round((k + n) * 0.02, 2),
                           float(rng.uniform(0.5, 1))))
        k += n
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_segment_format_scores_as_the_segments_themselves(tmp_path, fmt):
    refs = {f"r{i}": _flat_programme(10 + i) for i in range(3)}
    ests = {f"r{i}": _flat_programme(20 + i) for i in range(3)}
    durations = {n: 30.0 for n in refs}  # RTTM leaves out noEnergy, so the file's end with it
    want = score_detection({n: (refs[n], ests[n]) for n in refs}, durations=durations, n_boot=20)
    for side, segs in (("ref", refs), ("est", ests)):
        (tmp_path / side).mkdir()
        for name, s in segs.items():
            write_segments(s, tmp_path / side / f"{name}{EXTENSIONS[fmt]}", fmt=fmt)
    got = evaluate_detection(tmp_path / "ref", tmp_path / "est", duration=30.0, n_boot=20)
    assert list(got.files) == list(want.files)
    _assert_same(got.overall, want.overall)
    _assert_same(got.ci95, want.ci95)
    for name in refs:
        _assert_same(got.files[name].metrics, want.files[name].metrics, name)


def test_mirex_text_files_are_read(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("0.0\t1.5\tmusic\n1.5\t3.25\tspeech\n\n", encoding="utf-8")
    q = tmp_path / "b.lab"
    q.write_text("# onset offset class\n0 1.5 music\n1.5,3.25,speech\n", encoding="utf-8")
    want = [Segment("music", 0.0, 1.5), Segment("speech", 1.5, 3.25)]
    assert read_events(p) == want and read_events(q) == want
    (tmp_path / "empty.txt").write_text("", encoding="utf-8")
    (tmp_path / "empty.json").write_text("\n", encoding="utf-8")
    assert read_events(tmp_path / "empty.txt") == [] and read_events(tmp_path / "empty.json") == []
    (tmp_path / "bad.txt").write_text("0.0\tmusic\n", encoding="utf-8")
    with pytest.raises(SpeechMusicError, match="bad.txt, line 1"):
        read_events(tmp_path / "bad.txt")
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(SpeechMusicError, match="bad.json: malformed json"):
        read_events(tmp_path / "bad.json")
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    with pytest.raises(ConfigError, match="not a segment file"):
        read_events(tmp_path / "a.wav")


# ------------------------------------------------------------------------- labels and events
def test_labels_map_to_classes_and_segments_merge_into_events():
    segs = [Segment("male", 0, 2), Segment("Female", 2, 3.5), Segment("speech+music", 3.5, 5),
            Segment("music", 5, 7), Segment("noEnergy", 7, 8), Segment("noise", 8, 9),
            Segment("music", 9, 12)]
    events = class_events(segs, duration=10.0)
    assert events == {"speech": [(0.0, 5.0)], "music": [(3.5, 7.0), (9.0, 10.0)]}
    assert class_events(segs, settings=DetectionSettings(classes=("music",))) == {
        "music": [(3.5, 7.0), (9.0, 12.0)]}
    with pytest.raises(ConfigError, match=r"'jingle'.*--map"):
        class_events([Segment("jingle", 0, 1)], source="x.csv")
    mapped = DetectionSettings(label_map={"jingle": ("music", "speech"), "male": ()})
    assert class_events([Segment("jingle", 0, 1), Segment("male", 1, 2)], settings=mapped) == {
        "speech": [(0.0, 1.0)], "music": [(0.0, 1.0)]}
    with pytest.raises(ConfigError, match="not a scored class"):
        DetectionSettings(label_map={"jingle": ("jingles",)})
    with pytest.raises(ConfigError):
        DetectionSettings(collar=0)
    with pytest.raises(ConfigError):
        DetectionSettings(classes=("speech", "-"))


def test_durations_clip_estimates_and_empty_sides_have_no_events():
    ref = [Segment("speech", 0, 4), Segment("noEnergy", 4, 5)]
    est = [Segment("speech", 0, 7)]
    assert recording_duration(ref, est) == 5.0 and recording_duration([], est) == 7.0
    f = score_file(ref, est)  # the reference's last offset: 5 s, the estimate clipped there
    assert f.duration == 5.0
    assert f.metrics["segment"]["speech"]["precision"] == pytest.approx(0.8)
    longer = score_file(ref, est, duration=10.0)
    assert longer.metrics["segment"]["speech"]["precision"] == pytest.approx(4 / 7)
    assert longer.metrics["segment"][GAP]["recall"] == pytest.approx(3 / 6)
    nothing = score_file([], [])
    assert nothing.duration == 0.0 and math.isnan(nothing.metrics["segment"]["overall"]["accuracy"])
    only_est = score_file([], est, duration=7.0)
    assert only_est.metrics["event"]["speech"]["precision"] == 0.0
    assert math.isnan(only_est.metrics["event"]["speech"]["recall"])


# ------------------------------------------------------------------------- files and folders
def test_pairs_by_name_missing_files_are_listed(tmp_path):
    ref, est = tmp_path / "ref", tmp_path / "est"
    ref.mkdir(), est.mkdir()
    for name in ("a", "b", "c"):
        (ref / f"{name}.txt").write_text("0\t1\tspeech\n", encoding="utf-8")
    for name in ("a", "b", "d"):
        write_segments([Segment("speech", 0, 1)], est / f"{name}.csv")
    (est / "a.frames.csv").write_text("t,speech\n", encoding="utf-8")  # the segmenter's extras
    (est / "failed.tsv").write_text("", encoding="utf-8")
    (est / ".a.csv.done.json").write_text("{}", encoding="utf-8")
    (est / "a.wav").write_bytes(b"RIFF")  # not a segment file
    with pytest.raises(ConfigError, match=r"1 reference\(s\) without an estimate.*: c;.*"
                                          r"1 estimate\(s\) without a reference.*: d.*--intersection"):
        pair_files(ref, est)
    assert list(pair_files(ref, est, intersection=True)) == ["a", "b"]
    assert pair_files(ref / "a.txt", est) == {"a": (ref / "a.txt", est / "a.csv")}
    assert pair_files(ref / "a.txt", est / "d.csv") == {"a": (ref / "a.txt", est / "d.csv")}
    write_segments([Segment("speech", 0, 1)], est / "a.json")
    with pytest.raises(ConfigError, match="several files for the same recording"):
        pair_files(ref, est, intersection=True)


def test_durations_from_audio_files(tmp_path):
    ref, est, audio = tmp_path / "ref", tmp_path / "est", tmp_path / "audio"
    for d in (ref, est, audio):
        d.mkdir()
    (ref / "a.txt").write_text("0\t1\tspeech\n", encoding="utf-8")
    (est / "a.txt").write_text("0\t3\tspeech\n", encoding="utf-8")
    sf.write(audio / "a.wav", np.zeros(8000 * 4), 8000)
    r = evaluate_detection(ref, est, audio_dir=audio, n_boot=0)
    assert r.files["a"].duration == 4.0
    assert r.files["a"].metrics["segment"]["speech"]["precision"] == pytest.approx(1 / 3)
    with pytest.raises(ConfigError, match="no audio file"):
        evaluate_detection(ref, est, audio_dir=ref, n_boot=0)


def test_results_as_json_and_markdown():
    files = generated_files(seed=3, n=4, max_seconds=6.0)
    pairs, durations = _pairs(files)
    r = score_detection(pairs, durations=durations, n_boot=20)
    d = r.to_dict()
    assert set(d["segment"]) == {"speech", "music", GAP, "overall"}
    assert set(d["segment"]["speech"]) == {"precision", "recall", "f_measure"}
    assert set(d["event"]["overall"]) >= {"precision", "recall", "f_measure", "deletion_rate",
                                          "insertion_rate", "error_rate"}
    assert set(d["files"]) == set(files) and set(d["ci95"]) == {"segment", "event"}
    assert d["settings"]["collar"] == 0.5 and d["settings"]["time_resolution"] == 0.01
    json.loads(r.to_json())  # NaN written as null
    md = r.to_markdown()
    assert "| speech |" in md and "Overall accuracy" in md and "| f3 |" in md and "[" in md
    assert "Per file" not in r.to_markdown(per_file=False)


def test_sed_eval_import_leaves_no_placeholder_behind():
    detection._sed_eval()
    assert "sed_eval" in sys.modules
    mod = sys.modules.get("pkg_resources")
    assert mod is None or getattr(mod, "__file__", None)  # a real one, if any
