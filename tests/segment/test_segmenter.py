"""The segmenter against inaSpeechSegmenter 0.6.8's own outputs (golden files), and its contracts.

Golden files come from ``tools/golden/make_ina_golden.py`` run in the original's environment.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechmusic.audio import libav_available
from speechmusic.errors import (
    AudioFileNotFoundError,
    AudioTooShortError,
    ConfigError,
    NonFiniteAudioError,
)
from speechmusic.segment import (
    Segmenter,
    energy_activity,
    labels_on_grid,
    patch_logits,
    read_segments,
)
from speechmusic.segment.sliding import PatchGrid, standardize
from tests.conftest import music_like, shared_path, speech_like

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden"
ENGINES = [("sm", "sm", False), ("smn", "smn", False), ("smn_gender", "smn", True)]


def _agreement(ours, ref) -> float:
    n = max(int(round(ref[-1].stop / 0.02)), int(round(ours[-1].stop / 0.02)))
    return float((labels_on_grid(ours, n) == labels_on_grid(ref, n)).mean())


@pytest.fixture(scope="module")
def pipeline_golden():
    bands = np.load(GOLDEN / "ina_bands.npz")
    return bands, np.load(GOLDEN / "ina_pipeline.npz")


def test_energy_activity_matches_original(pipeline_golden):
    bands, _ = pipeline_golden
    ours = energy_activity(bands["loge"])
    np.testing.assert_array_equal(ours, bands["energy_activity"].astype(bool))


def test_patch_grid_covers_the_20ms_grid():
    for n in (68, 69, 100, 101, 598):
        grid = PatchGrid(n)
        assert grid.n_points == -(-n // 2)
        assert grid.patch_of_point.min() == 0 and grid.patch_of_point.max() == grid.n_patches - 1


@pytest.mark.parametrize("name,bands_used", [("sm", 21), ("smn", 21), ("gender", 24)])
def test_exact_patch_probabilities_match_original(ina_weights, pipeline_golden, name, bands_used):
    from speechmusic.models import load_ina_pretrained

    bands, golden = pipeline_golden
    feats = torch.from_numpy(bands["mspec"][:, :bands_used].T.copy())
    logits, finite = patch_logits(load_ina_pretrained(name), feats, mode="exact")
    grid = PatchGrid(feats.shape[1])
    probs = torch.softmax(logits, -1)[grid.patch_of_point].numpy()
    ok = golden[f"finite_{bands_used}"]
    np.testing.assert_array_equal(finite.numpy()[grid.patch_of_point], ok)
    np.testing.assert_allclose(probs[ok], golden[f"rawprob_{name}"][ok], atol=1e-4)


@pytest.mark.parametrize("mode", ["exact", "fast"])
@pytest.mark.parametrize("key,engine,gender", ENGINES)
def test_synthetic_signal_segments_equal_original(ina_weights, pipeline_golden, mode, key, engine, gender):
    bands, golden = pipeline_golden
    audio = bands["audio_int16"].astype(np.float32) / 32768
    segs = Segmenter(engine, gender=gender, mode=mode)(audio, sr=16000)
    expected = list(zip(golden[f"seg_{key}_labels"], golden[f"seg_{key}_start"], golden[f"seg_{key}_stop"], strict=True))
    got = [(s.label, s.start, s.stop) for s in segs]
    if mode == "exact":
        assert [g[0] for g in got] == [str(e[0]) for e in expected]
        np.testing.assert_allclose([g[1:] for g in got], [e[1:] for e in expected], atol=1e-9)
    else:
        assert _agreement(segs, read_segments_from(expected)) >= 0.99


def read_segments_from(rows):
    from speechmusic.segment import Segment

    return [Segment(str(lab), float(a), float(b)) for lab, a, b in rows]


def test_short_clip_like_original(ina_weights, pipeline_golden):
    bands, golden = pipeline_golden
    audio = bands["short_audio_int16"].astype(np.float32) / 32768
    segs = Segmenter("sm")(audio, sr=16000)
    expected = list(zip(golden["short_seg_sm_labels"], golden["short_seg_sm_start"], golden["short_seg_sm_stop"], strict=True))
    assert [(s.label, round(s.start, 2), round(s.stop, 2)) for s in segs] == [
        (str(a), float(b), float(c)) for a, b, c in expected]


@pytest.mark.skipif(not libav_available() and shutil.which("ffmpeg") is None,
                    reason="parity with the original needs FFmpeg's decoder (PyAV or the ffmpeg command)")
@pytest.mark.parametrize("key,engine,gender", ENGINES)
def test_agrees_with_original_on_real_recordings(ina_weights, key, engine, gender):
    audio_dir = shared_path("librosa-data", "audio")
    seg = Segmenter(engine, gender=gender)
    total = agree = 0.0
    for golden in sorted((GOLDEN / "ina_segments" / key).glob("*.csv")):
        ref = read_segments(golden)
        ours = seg(audio_dir / f"{golden.stem}.ogg")
        n = int(round(ref[-1].stop / 0.02))
        agree += _agreement(ours, ref) * n
        total += n
        assert ours[-1].stop == pytest.approx(ref[-1].stop)
    assert agree / total >= 0.99


def test_block_size_does_not_change_results(ina_weights, tmp_path):
    sr = 22050
    audio = np.concatenate([speech_like(sr, 8, seed=1), np.zeros(sr, np.float32),
                            music_like(sr, 9, seed=2), speech_like(sr, 6, seed=3)])
    path = tmp_path / "prog.wav"
    sf.write(path, audio, sr)
    a = Segmenter("smn", gender=True, block_seconds=3.0).analyse(path)
    b = Segmenter("smn", gender=True, block_seconds=100.0).analyse(path)
    assert a.segments == b.segments
    np.testing.assert_array_equal(a.probs, b.probs)


def test_array_and_file_give_the_same_segments(ina_weights, tmp_path):
    audio = np.concatenate([music_like(16000, 5, seed=4), speech_like(16000, 5, seed=5)])
    path = tmp_path / "x.wav"
    sf.write(path, audio, 16000, subtype="FLOAT")
    seg = Segmenter("sm", decoder="soxr")
    assert seg(path) == seg(audio, sr=16000)


def test_segments_cover_the_grid_and_carry_probabilities(ina_weights):
    audio = np.concatenate([np.zeros(16000, np.float32), speech_like(16000, 4, seed=6)])
    result = Segmenter("smn").analyse(audio, sr=16000)
    segs = result.segments
    assert segs[0].start == 0 and all(a.stop == b.start for a, b in zip(segs, segs[1:], strict=False))
    assert segs[-1].stop == pytest.approx(len(result.active) * 0.02)
    assert segs[0].label == "noEnergy" and segs[0].probability is None
    assert all(0 <= s.probability <= 1 for s in segs if s.label != "noEnergy")
    cols, table = result.frame_table()
    assert cols[:2] == ["start", "active"] and table.shape == (len(result.active), 5)


def test_bad_inputs(ina_weights, tmp_path):
    seg = Segmenter("sm")
    with pytest.raises(AudioFileNotFoundError, match="missing.wav"):
        seg(tmp_path / "missing.wav")
    with pytest.raises(AudioTooShortError, match="25 ms"):
        seg(np.zeros(100, np.float32), sr=16000)
    with pytest.raises(NonFiniteAudioError):
        seg(np.full(16000, np.nan, np.float32), sr=16000)
    with pytest.raises(ConfigError, match="sample rate"):
        seg(np.zeros(16000, np.float32))
    with pytest.raises(ConfigError, match="unknown engine") as err:
        Segmenter("nope")
    assert "'overlap-fast'" in str(err.value)  # every engine name the segmenter takes
    silence = seg(np.zeros(32000, np.float32), sr=16000)
    assert [s.label for s in silence] == ["noEnergy"]


def test_fill_short_gaps_only_fills_interior_runs_below_the_length():
    from speechmusic.segment.viterbi import fill_short_gaps

    active = np.array([0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0], dtype=bool)
    got = fill_short_gaps(active, max_len=3)
    assert got.tolist() == [0, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0]  # the 3-long gap and the ends stay
    assert fill_short_gaps(active, max_len=0).tolist() == active.tolist()


def test_min_duration_off_classifies_short_pauses_and_keeps_long_silence(ina_weights):
    sr = 16000
    pause, silence = np.zeros(int(0.6 * sr), np.float32), np.zeros(3 * sr, np.float32)
    audio = np.concatenate([speech_like(sr, 4, seed=7), pause, speech_like(sr, 4, seed=8), silence,
                            music_like(sr, 5, seed=9)])
    plain = Segmenter("smn").analyse(audio, sr=sr)
    bridged = Segmenter("smn", min_duration_off=1.0).analyse(audio, sr=sr)
    gaps = [s for s in plain.segments if s.label == "noEnergy"]
    assert any(s.stop - s.start < 1.0 for s in gaps)  # the pause is silence by default
    kept = [s for s in bridged.segments if s.label == "noEnergy"]
    assert kept and all(s.stop - s.start >= 1.0 for s in kept)  # only the 3 s silence is left
    assert bridged.active.sum() > plain.active.sum()
    assert np.isfinite(bridged.probs[bridged.active]).all()  # the pause was classified
    with pytest.raises(ConfigError, match="min_duration_off"):
        Segmenter("smn", min_duration_off=-1)


def test_standardize_matches_numpy():
    x = torch.randn(3, 21, 68)
    ref = (x.numpy() - x.numpy().mean(axis=(1, 2), keepdims=True)) / x.numpy().std(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(standardize(x).numpy(), ref, atol=1e-5)


# ----------------------------------------------------------------------------- checkpoint engines


def _random_checkpoint(path: Path, sample_rate: int, **config) -> Path:
    """A checkpoint with random weights and 16 mel bands at ``sample_rate``: what is under test is
    how the audio reaches it, not what it learnt."""
    from speechmusic.features import FeatureConfig
    from speechmusic.models import build_model, save_checkpoint

    cfg = FeatureConfig(**{"kind": "logmel", "sample_rate": sample_rate, "n_fft": 512, "hop_length": 256,
                           "n_mels": 16, "patch_frames": 10, "patch_hop": 5, **config})
    torch.manual_seed(0)
    model = build_model("vgg", n_classes=2, input_shape=cfg.patch_shape)
    return save_checkpoint(path, model=model.eval(), labels=["speech", "music"], feature_config=cfg)


def _count_decodes(monkeypatch) -> list[str]:
    """Record each time a file is opened for its samples: by PyAV, or by soundfile for reading
    (not the probe of ``sf.info``), or by an ffmpeg process."""
    import subprocess

    opened: list[str] = []
    if libav_available():
        import av

        av_open = av.open
        monkeypatch.setattr(av, "open", lambda *a, **k: opened.append("libav") or av_open(*a, **k))
    sf_read = sf.SoundFile.read

    def read(self, *args, **kwargs):
        if not getattr(self, "_decode_counted", False):
            self._decode_counted = True
            opened.append("soundfile")
        return sf_read(self, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", read)
    popen = subprocess.Popen.__init__

    def start(self, cmd, *args, **kwargs):
        if "ffmpeg" in Path(str(cmd[0])).name:
            opened.append("ffmpeg")
        popen(self, cmd, *args, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", start)
    return opened


@pytest.mark.parametrize("decoder", ["soxr", "libav"])
def test_checkpoint_engine_decodes_each_file_once(tmp_path, monkeypatch, decoder):
    if decoder == "libav" and not libav_available():
        pytest.skip("PyAV is not installed")
    ckpt = _random_checkpoint(tmp_path / "m22.pt", 22050)
    path = tmp_path / "prog.wav"
    sf.write(path, np.concatenate([speech_like(44100, 3, seed=1), music_like(44100, 3, seed=2)]), 44100)
    seg = Segmenter(str(ckpt), decoder=decoder)
    opened = _count_decodes(monkeypatch)
    seg.analyse(path)
    assert len(opened) == 1, opened


@pytest.mark.skipif(not libav_available(), reason="PyAV is not installed")
def test_checkpoint_engine_reads_m4a_through_pyav_without_the_ffmpeg_command(tmp_path, monkeypatch):
    import av

    if "aac" not in av.codecs_available:
        pytest.skip("this PyAV has no AAC encoder to write the .m4a with")
    sr = 22050
    audio = np.concatenate([speech_like(sr, 3, seed=1), music_like(sr, 3, seed=2)])
    path = tmp_path / "prog.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=sr)
        stream.layout = "mono"
        for i in range(0, len(audio), 1024):
            frame = av.AudioFrame.from_ndarray(audio[None, i:i + 1024], format="fltp", layout="mono")
            frame.sample_rate = sr
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    monkeypatch.setattr(shutil, "which", lambda *a, **k: None)  # no ffmpeg, no ffprobe
    result = Segmenter(str(_random_checkpoint(tmp_path / "m.pt", 16000))).analyse(path)
    assert result.duration == pytest.approx(6.0, abs=0.1)
    assert np.isfinite(result.probs).all() and {s.label for s in result.segments} <= {"speech", "music"}


@pytest.mark.parametrize("decoder", ["soxr", "libav"])
def test_checkpoint_engine_file_and_array_agree_at_another_rate(tmp_path, decoder):
    if decoder == "libav" and not libav_available():
        pytest.skip("PyAV is not installed")
    sr = 44100
    audio = np.concatenate([speech_like(sr, 4, seed=3), music_like(sr, 4, seed=4)])
    path = tmp_path / "x.wav"
    sf.write(path, audio, sr, subtype="FLOAT")
    seg = Segmenter(str(_random_checkpoint(tmp_path / "m22.pt", 22050)), decoder=decoder)
    from_file, from_array = seg.analyse(path), seg.analyse(audio, sr=sr)
    assert from_file.probs.shape == from_array.probs.shape
    np.testing.assert_allclose(from_file.probs, from_array.probs, atol=1e-3)


def test_checkpoint_engine_on_a_clip_shorter_than_its_frame_says_so(tmp_path):
    ckpt = _random_checkpoint(tmp_path / "m.pt", 16000, n_fft=2048, hop_length=512, center=False)
    path = tmp_path / "short.wav"
    sf.write(path, music_like(16000, 0.05), 16000)  # 50 ms: enough for INA's frames, not the model's
    with pytest.raises(AudioTooShortError, match="short.wav.*2048-sample"):
        Segmenter(str(ckpt), decoder="soxr").analyse(path)
