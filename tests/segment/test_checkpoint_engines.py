"""Checkpoints trained here as segmenter engines: fast mode gives exact mode's labels, for every
architecture; results depend neither on how the audio is cut into blocks nor on how the patches
are cut into chunks.

The engines are tiny networks trained here, in a few seconds, on generated speech-, music- and
noise-like audio, with the paper's MelSpec framing (22050 Hz, n_fft 2048, hop 512, 10-frame
patches; 40 bands instead of 128 to keep the tests quick) and a band-wise normaliser, as
``speechmusic run`` trains them. (``tests/models/test_patchwise.py`` checks the shared evaluation
on 128 bands.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from speechmusic.features import FeatureConfig, FeatureNormalizer, compute_features, make_patches
from speechmusic.models import build_model, save_checkpoint
from speechmusic.runtime import thread_local_torch_threads
from speechmusic.segment import Segmenter, labels_on_grid
from speechmusic.segment.chunked import FeatureChunks
from tests.conftest import music_like, shared_path, speech_like

SR = 22050
LABELS = ["speech", "music", "noise"]
SMALL_INA = [{"conv": 4, "kernel": [5, 4]}, {"pool": [2, 2], "padding": "valid"},
             {"conv": 6, "kernel": [3, 3]}, {"conv": 6, "kernel": [3, 3]}, {"pool": [2, 2], "padding": "same"},
             {"conv": 8, "kernel": [3, 3]}, {"pool": "frames"}]
# The paper's architectures (the INA one with its published geometry, fewer channels).
ARCHS = {
    "vgg": {"channels": 4},
    "ina": {"layers": SMALL_INA, "dense_units": [32] * 4},
    "dnn": {"units": 32},
    "swishnet": {},
}


def _noise(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    env = np.repeat(rng.uniform(0.2, 1.0, n // 2205 + 1), 2205)[:n]
    return (0.2 * env * rng.standard_normal(n)).astype(np.float32)


def _programme(seed: int = 0) -> np.ndarray:
    parts = [speech_like(SR, 5, seed=seed), music_like(SR, 6, seed=seed + 1), _noise(3, seed + 2),
             speech_like(SR, 4, seed=seed + 3), 0.3 * music_like(SR, 4, seed=seed + 4)]
    return np.concatenate(parts).astype(np.float32)


@pytest.fixture(scope="module")
def engines(tmp_path_factory) -> dict[str, Path]:
    """One small checkpoint per architecture, trained for a few hundred steps."""
    cfg = FeatureConfig.from_dict({"preset": "melspec", "n_mels": 40})
    audio = {"speech": [speech_like(SR, 8, seed=s) for s in (10, 11)],
             "music": [music_like(SR, 8, seed=s) for s in (12, 13)],
             "noise": [_noise(8, s) for s in (14, 15)]}
    feats = {k: [compute_features(a, cfg) for a in v] for k, v in audio.items()}
    norm = FeatureNormalizer().fit(f for v in feats.values() for f in v)
    xs, ys = [], []
    for k, v in feats.items():
        for f in v:
            p = make_patches(norm.transform(f), patch_frames=cfg.patch_frames, hop=2)
            xs.append(p)
            ys.append(np.full(len(p), LABELS.index(k)))
    x, y = torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))
    out = {}
    folder = tmp_path_factory.mktemp("engines")
    with thread_local_torch_threads(1):  # small batches: a thread pool only waits
        for arch, params in ARCHS.items():
            out[arch] = _train(folder / f"{arch}.pt", arch, params, cfg, norm, x, y)
    return out


def _train(path: Path, arch: str, params: dict, cfg: FeatureConfig, norm: FeatureNormalizer,
           x: torch.Tensor, y: torch.Tensor) -> Path:
    torch.manual_seed(0)
    model = build_model(arch, n_classes=3, input_shape=cfg.patch_shape, **params)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    model.train()
    for _ in range(40):
        idx = torch.randint(0, len(x), (32,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    # Batch-norm statistics of the final weights (40 steps leave the running averages near
    # their initial values).
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
    with torch.no_grad():
        for i in range(0, len(x), 256):
            model(x[i: i + 256])
    return save_checkpoint(path, model=model.eval(), labels=LABELS, feature_config=cfg, normalizer=norm)


def _agreement(fast, exact) -> float:
    n = len(exact.active)
    return float((labels_on_grid(fast.segments, n) == labels_on_grid(exact.segments, n)).mean())


@pytest.mark.parametrize("arch", list(ARCHS))
def test_fast_labels_equal_exact_labels_on_generated_audio(engines, arch):
    audio = _programme()
    fast = Segmenter(str(engines[arch]), mode="fast").analyse(audio, sr=SR)
    exact = Segmenter(str(engines[arch]), mode="exact").analyse(audio, sr=SR)
    np.testing.assert_allclose(fast.probs, exact.probs, atol=1e-4)
    assert _agreement(fast, exact) >= 0.999
    # The engine learnt something: more than one class appears.
    assert len({s.label for s in exact.segments} - {"noEnergy"}) >= 2


def _assert_fast_is_exact_on_real_recordings(engine: str) -> None:
    """Fast and exact mode on the two shortest real-mix recordings of each class (2-5 s, so the
    test stays quick): the same probabilities up to float rounding, >= 99.9 % of labels."""
    root = shared_path("real-mix")
    files = [f for label in ("speech", "music", "noise")
             for f in sorted((root / label).glob("*.wav"), key=lambda p: (p.stat().st_size, p.name))[:2]]
    fast, exact = Segmenter(engine, mode="fast"), Segmenter(engine, mode="exact")
    same = total = 0
    for f in files:
        a, b = fast.analyse(f), exact.analyse(f)
        np.testing.assert_allclose(a.probs, b.probs, atol=1e-4, err_msg=f.name)
        n = len(b.active)
        same += int((labels_on_grid(a.segments, n) == labels_on_grid(b.segments, n)).sum())
        total += n
    assert same / total >= 0.999, f"{same / total:.4%} of 20 ms frames agree"


@pytest.mark.parametrize("arch", list(ARCHS))
def test_fast_labels_equal_exact_labels_on_real_recordings(engines, arch):
    _assert_fast_is_exact_on_real_recordings(str(engines[arch]))


@pytest.mark.parametrize("arch", ["vgg", "ina"])
def test_streamed_blocks_give_the_whole_file_s_result(engines, arch, tmp_path):
    path = tmp_path / "programme.wav"
    sf.write(path, _programme(seed=5), SR, subtype="FLOAT")
    small = Segmenter(str(engines[arch]), block_seconds=0.7, decoder="soxr").analyse(path)
    whole = Segmenter(str(engines[arch]), block_seconds=600, decoder="soxr").analyse(path)
    np.testing.assert_allclose(small.probs, whole.probs, atol=1e-6)
    assert small.segments == whole.segments


@pytest.mark.parametrize("arch", ["vgg", "dnn"])
def test_chunks_of_patches_do_not_change_the_probabilities(engines, arch):
    from speechmusic.segment.segmenter import _CheckpointEngine

    engine = _CheckpointEngine(engines[arch])
    frames = compute_features(_programme(seed=7), engine.config).T  # [frames, bands]
    results = []
    with ThreadPoolExecutor(2) as pool:
        for size, piece in [(7, 13), (64, 100), (1000, 1000)]:
            chunks = FeatureChunks(engine.patch_probs, patch_frames=engine.width, step=engine.step,
                                   chunk_patches=size, pool=pool, tail_parts=3)
            for i in range(0, len(frames), piece):
                chunks.feed(frames[i: i + piece])
            results.append(chunks.probs())
    whole = engine.patch_probs(frames)
    assert whole.shape == (len(frames) - engine.width + 1, 3)
    for r in results:
        np.testing.assert_allclose(r, whole, atol=1e-6)


def test_patches_standardised_one_by_one_are_evaluated_so(engines, tmp_path):
    """A checkpoint whose patches were standardised on their own (``input_normalization:
    per_patch``, no normaliser) gets its patches standardised the same way."""
    from speechmusic.models import load_checkpoint
    from speechmusic.segment.segmenter import _CheckpointEngine

    ckpt = load_checkpoint(engines["vgg"])
    path = save_checkpoint(tmp_path / "pp.pt", model=ckpt.model, labels=LABELS, feature_config=ckpt.feature_config,
                           extra={"input_normalization": "per_patch"})
    engine = _CheckpointEngine(path)
    assert engine.per_patch
    frames = compute_features(_programme(seed=8)[: 3 * SR], engine.config)  # [bands, frames]
    patches = torch.from_numpy(make_patches(frames, patch_frames=10, hop=1).copy())
    mean = patches.mean(dim=(1, 2), keepdim=True)
    std = patches.std(dim=(1, 2), keepdim=True, unbiased=False)
    with torch.no_grad():
        expected = torch.softmax(ckpt.model((patches - mean) / std), dim=-1).numpy()
    np.testing.assert_allclose(engine.patch_probs(frames.T), expected, atol=1e-5)


def test_energies_without_the_bands_are_the_bands_energies():
    """A checkpoint engine without gender computes only INA's log energies (for activity
    detection): the same numbers as the full front-end's."""
    from speechmusic.features.ina import InaBands
    from speechmusic.segment.segmenter import _log_energy

    front = InaBands(FeatureConfig.preset("ina_gender"))
    audio = torch.from_numpy(np.concatenate([np.zeros(800, np.float32), speech_like(16000, 1.0, seed=3)]))
    expected = front.with_energy(audio)[1]
    got = _log_energy(audio, win=front.config.win_length, hop=front.config.hop_length)
    assert torch.equal(got, expected)


def test_feature_chunks_wait_for_the_network_instead_of_piling_up_features():
    """A decoder faster than the network waits: at most ``max_pending`` chunks are in flight,
    so memory does not grow with the file's duration."""
    import time

    in_flight = []

    def evaluate(frames: np.ndarray) -> np.ndarray:
        time.sleep(0.002)
        return np.full((len(frames) - 9, 2), 0.5, dtype=np.float32)

    with ThreadPoolExecutor(1) as pool:
        class Counting:
            def __init__(self) -> None:
                self.futures = []

            def submit(self, fn, *args):
                self.futures.append(pool.submit(fn, *args))
                in_flight.append(sum(not f.done() for f in self.futures))
                return self.futures[-1]

        chunks = FeatureChunks(evaluate, patch_frames=10, step=1, chunk_patches=20, pool=Counting(),
                               max_pending=3)
        for _ in range(60):
            chunks.feed(np.zeros((20, 4), dtype=np.float32))
        probs = chunks.probs()
    assert probs.shape == (1200 - 9, 2) and max(in_flight) <= 3


# ------------------------------------------------------------- checkpoints on INA's bands
def _resaved_ina(tmp_path: Path, name: str, **overrides) -> Path:
    """INA's published network saved as a checkpoint trained here would be (what fine-tuning
    from ``init: ina:sm`` writes), with ``overrides`` of its description."""
    from speechmusic.models import ina_checkpoint_path, load_checkpoint

    ckpt = load_checkpoint(ina_checkpoint_path(name))
    kwargs = dict(model=ckpt.model, labels=list(ckpt.labels), feature_config=ckpt.feature_config,
                  extra={"input_normalization": "per_patch", "init": f"ina:{name}",
                         "viterbi_arg": ckpt.extra["viterbi_arg"]})
    kwargs.update(overrides)
    folder = tmp_path / f"{name}-engine"
    folder.mkdir(exist_ok=True)
    return save_checkpoint(folder / "model.pt", **kwargs)


def _ina_programme() -> np.ndarray:
    return np.concatenate([speech_like(16000, 6, seed=21), np.zeros(8000, np.float32),
                           music_like(16000, 7, seed=22), speech_like(16000, 5, seed=23)])


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_an_ina_bands_checkpoint_segments_as_its_published_network(ina_weights, tmp_path, mode):
    """A checkpoint on INA's bands, per-patch standardised, runs through INA's pipeline: the
    published network saved as such a checkpoint (its folder as the engine) gives the
    published engine's analysis, gender included."""
    folder = _resaved_ina(tmp_path, "smn").parent
    audio = _ina_programme()
    ours = Segmenter(str(folder), gender=True, mode=mode).analyse(audio, sr=16000)
    published = Segmenter("smn", gender=True, mode=mode).analyse(audio, sr=16000)
    assert ours.segments == published.segments
    np.testing.assert_array_equal(ours.probs, published.probs)
    np.testing.assert_array_equal(ours.gender_probs, published.gender_probs)
    assert "music" in {s.label for s in ours.segments}


def test_an_ina_bands_checkpoints_temperature_is_applied(ina_weights, tmp_path):
    """The calibration temperature divides the logits: probabilities are softmax(z / T)."""
    audio = _ina_programme()
    plain = Segmenter(str(_resaved_ina(tmp_path, "sm")), mode="exact").analyse(audio, sr=16000)
    (tmp_path / "hot").mkdir()
    hot = Segmenter(str(_resaved_ina(tmp_path / "hot", "sm", temperature=2.0)),
                    mode="exact").analyse(audio, sr=16000)
    ok = plain.active & np.isfinite(plain.probs).all(axis=1)
    assert ok.sum() > 100
    # softmax(z / 2) from softmax(z): p^(1/2), renormalised
    root = np.sqrt(plain.probs[ok])
    np.testing.assert_allclose(hot.probs[ok], root / root.sum(axis=1, keepdims=True), atol=1e-5)


def _standardised_ina(tmp_path: Path, name: str = "sm") -> Path:
    """INA's published network with one fixed mean and standard deviation for every patch
    instead of each patch's own (what ``speechmusic train --set normalizer=standard`` writes)."""
    from speechmusic.models import ina_checkpoint_path, load_checkpoint
    from speechmusic.training.cv import fit_standard

    ckpt = load_checkpoint(ina_checkpoint_path(name))
    norm = fit_standard([compute_features(_ina_programme(), ckpt.feature_config)])
    folder = tmp_path / f"{name}-standard"
    folder.mkdir(exist_ok=True)
    return save_checkpoint(folder / "model.pt", model=ckpt.model, labels=list(ckpt.labels),
                           feature_config=ckpt.feature_config, normalizer=norm,
                           extra={"init": f"ina:{name}", "viterbi_arg": ckpt.extra["viterbi_arg"]},
                           temperature=1.5)


def test_an_ina_bands_checkpoint_with_a_fixed_normaliser_shares_its_convolutions(ina_weights, tmp_path):
    """Without per-patch standardisation an INA network on INA's bands is an ordinary checkpoint
    engine: shared convolutions, the labels of patch-by-patch evaluation, and probabilities
    that are the model's on INA's bands of the whole signal, patch by patch (every 2 frames,
    temperature applied), with 1 / classes for patches over digital silence."""
    from speechmusic.models import load_checkpoint
    from speechmusic.segment.segmenter import _CheckpointEngine

    path = _standardised_ina(tmp_path)
    audio = _ina_programme()
    fast_seg, exact_seg = Segmenter(str(path.parent), mode="fast"), Segmenter(str(path.parent), mode="exact")
    assert isinstance(fast_seg.engine, _CheckpointEngine) and fast_seg.engine.net.shared
    assert fast_seg.engine.step == 2
    assert fast_seg.engine.viterbi_arg == 150  # smoothed as INA's sm, which it came from
    fast, exact = fast_seg.analyse(audio, sr=16000), exact_seg.analyse(audio, sr=16000)
    np.testing.assert_allclose(fast.probs, exact.probs, atol=1e-4)
    assert _agreement(fast, exact) == 1.0
    assert {"speech", "music"} <= {s.label for s in exact.segments}

    ckpt = load_checkpoint(path)
    want = _patch_by_patch(ckpt, audio, ckpt.normalizer.transform, temperature=1.5)
    np.testing.assert_allclose(exact.probs, exact_seg.engine.grid_probs(want, len(exact.probs)), atol=1e-5)


def _patch_by_patch(ckpt, audio: np.ndarray, normalise, *, temperature: float = 1.0) -> np.ndarray:
    """The checkpoint's probabilities of every patch (68 frames every 2) of INA's bands of the
    whole ``audio``, normalised by ``normalise``, one patch at a time; patches over the digital
    silence (which ``audio`` must hold) 0.5, as the original gives them."""
    bands = compute_features(audio, ckpt.feature_config)  # [21, frames], -inf on the silence
    x = torch.from_numpy(normalise(bands))
    starts = np.arange(0, x.shape[1] - 68 + 1, 2)
    silent = np.array([not np.isfinite(bands[:, s: s + 68]).all() for s in starts])
    assert silent.any() and not silent.all()
    patches = torch.stack([x[:, s: s + 68] for s in starts])
    patches[torch.from_numpy(silent)] = 0.0
    with torch.inference_mode():
        want = torch.softmax(ckpt.model.eval()(patches) / temperature, dim=-1).numpy()
    want[silent] = 0.5
    return want


def test_a_standardised_ina_checkpoint_gives_its_exact_labels_on_real_recordings(ina_weights, tmp_path):
    _assert_fast_is_exact_on_real_recordings(str(_standardised_ina(tmp_path).parent))


def _sliding_ina(tmp_path: Path, name: str = "sm") -> Path:
    """INA's published network with every frame standardised by the 68 frames around it instead
    of each patch by its own statistics (what ``speechmusic train --set normalizer=sliding``
    writes)."""
    from speechmusic.features import SlidingStandardizer
    from speechmusic.models import ina_checkpoint_path, load_checkpoint

    ckpt = load_checkpoint(ina_checkpoint_path(name))
    folder = tmp_path / f"{name}-sliding"
    folder.mkdir(exist_ok=True)
    return save_checkpoint(folder / "model.pt", model=ckpt.model, labels=list(ckpt.labels),
                           feature_config=ckpt.feature_config,
                           extra={"init": f"ina:{name}", "viterbi_arg": ckpt.extra["viterbi_arg"],
                                  **SlidingStandardizer(68).checkpoint_extra()})


def test_a_sliding_standardised_ina_checkpoint_shares_its_convolutions(ina_weights, tmp_path):
    """Frames standardised by the window around them do not depend on the patch they sit in:
    the engine shares its convolutions, fast equals exact, and the probabilities are the
    model's, patch by patch, on the whole signal's bands standardised once (gain-free, like
    INA's own standardisation)."""
    from speechmusic.features import SlidingStandardizer
    from speechmusic.models import load_checkpoint
    from speechmusic.segment.segmenter import _CheckpointEngine

    path = _sliding_ina(tmp_path)
    ckpt = load_checkpoint(path)
    assert ckpt.sliding_window == 68 and not ckpt.per_patch
    audio = _ina_programme()
    fast_seg, exact_seg = Segmenter(str(path.parent), mode="fast"), Segmenter(str(path.parent), mode="exact")
    assert isinstance(fast_seg.engine, _CheckpointEngine) and fast_seg.engine.net.shared
    assert fast_seg.engine.context == 34
    fast, exact = fast_seg.analyse(audio, sr=16000), exact_seg.analyse(audio, sr=16000)
    np.testing.assert_allclose(fast.probs, exact.probs, atol=1e-4)
    assert _agreement(fast, exact) == 1.0
    assert {"speech", "music"} <= {s.label for s in exact.segments}
    # A gain changes nothing but the rounding.
    louder = fast_seg.analyse(audio * 0.25, sr=16000)
    np.testing.assert_allclose(louder.probs, fast.probs, atol=1e-3)

    want = _patch_by_patch(ckpt, audio, SlidingStandardizer(68).transform)
    np.testing.assert_allclose(exact.probs, exact_seg.engine.grid_probs(want, len(exact.probs)), atol=1e-5)


@pytest.mark.parametrize("gender", [False, True])
def test_a_checkpoint_on_ina_bands_takes_pass_1s_bands(ina_weights, tmp_path, monkeypatch, gender):
    """Features that are INA's bands are not computed twice: pass 1 decodes and resamples once
    and hands its bands (the first 21 of 24) to the network; the probabilities are those of the
    engine's own front-end over the same samples, and the model's front-end never runs."""
    from speechmusic import audio as audio_module
    from speechmusic.audio import resample
    from speechmusic.segment import segmenter as segmenter_module

    path = tmp_path / "programme.wav"
    sf.write(path, resample(_ina_programme(), orig_sr=16000, target_sr=22050), 22050, subtype="FLOAT")
    engine = str(_sliding_ina(tmp_path).parent)
    rates: list[tuple] = []
    real_rates = audio_module.iter_audio_rates

    def recording_rates(source, wanted, **kwargs):
        rates.append(tuple(wanted))
        return real_rates(source, wanted, **kwargs)

    monkeypatch.setattr(audio_module, "iter_audio_rates", recording_rates)
    separate = Segmenter(engine, gender=gender, decoder="soxr")
    separate.engine.pass1_bands = None  # the general path: its own front-end over the samples
    want = separate.analyse(path)
    assert rates == [(16000,)]  # a model at 16 kHz reads pass 1's samples: one resampler

    shared = Segmenter(engine, gender=gender, decoder="soxr")
    assert shared.engine.pass1_bands == 21

    def refuse(*args, **kwargs):
        raise AssertionError("the model's own front-end ran")

    monkeypatch.setattr(shared.engine, "frontend", refuse)
    rates.clear()
    got = shared.analyse(path)
    assert rates == [(16000,)]
    np.testing.assert_allclose(got.probs, want.probs, atol=1e-5)
    assert got.segments == want.segments
    if gender:
        np.testing.assert_array_equal(got.gender_probs, want.gender_probs)
    # An array goes the same way.
    array = shared.analyse(_ina_programme(), sr=16000)
    np.testing.assert_allclose(array.probs, separate.analyse(_ina_programme(), sr=16000).probs, atol=1e-5)
    assert segmenter_module.chunk_patches(shared.engine.net, patches_per_second=50, mode="fast") \
        == shared.engine.net.block_patches() > 500  # as many patches as the memory bound allows


def test_sliding_standardisation_reads_its_context_across_chunks(ina_weights, tmp_path):
    """However the features arrive and whatever the chunk size, each chunk is standardised
    with the frames around it, as the whole file is."""
    from speechmusic.segment.segmenter import _CheckpointEngine

    engine = _CheckpointEngine(_sliding_ina(tmp_path))
    frames = compute_features(_ina_programme(), engine.config).T  # [frames, bands]
    whole = engine.patch_probs(frames)
    with ThreadPoolExecutor(2) as pool:
        for size, piece in [(7, 13), (40, 100), (1000, 1000)]:
            chunks = FeatureChunks(engine.patch_probs, patch_frames=engine.width, step=engine.step,
                                   chunk_patches=size, pool=pool, tail_parts=3, context=engine.context)
            for i in range(0, len(frames), piece):
                chunks.feed(frames[i: i + piece])
            np.testing.assert_allclose(chunks.probs(), whole, atol=1e-5, err_msg=f"chunks of {size}")


def test_streamed_blocks_give_a_sliding_engine_the_whole_file_s_result(ina_weights, tmp_path):
    path = tmp_path / "programme.wav"
    sf.write(path, _ina_programme(), 16000, subtype="FLOAT")
    engine = str(_sliding_ina(tmp_path).parent)
    small = Segmenter(engine, block_seconds=0.7, decoder="soxr").analyse(path)
    whole = Segmenter(engine, block_seconds=600, decoder="soxr").analyse(path)
    np.testing.assert_allclose(small.probs, whole.probs, atol=1e-5)
    assert small.segments == whole.segments


def test_a_sliding_standardised_ina_checkpoint_gives_its_exact_labels_on_real_recordings(ina_weights, tmp_path):
    _assert_fast_is_exact_on_real_recordings(str(_sliding_ina(tmp_path).parent))


def test_yamnets_optimised_float_graph_gives_the_second_opinions_labels_as_written(ina_weights, tmp_path):
    """A checkpoint with YAMNet's second opinion segments with onnxruntime's optimised float graph
    (the activations' quantisation as written): the labels of the graph run as written, on real
    recordings (>= 99.9 % of 20 ms frames), YAMNet's pooled scores within two quanta."""
    from tests.conftest import yamnet_or_skip

    yamnet_or_skip()
    from speechmusic.models import load_checkpoint
    from speechmusic.segment.fusion import YamNetClassFusion

    root = shared_path("real-mix")
    sliding = load_checkpoint(_sliding_ina(tmp_path, "smn"))
    labels = list(sliding.labels)
    # a fusion that leans on YAMNet, where its rounding would show most
    weights = [[4.0 * (i == j) for j in range(len(labels))]
               + ([0.5, -0.5] if lab == "speech" else [-0.5, 0.5] if lab == "music" else [-0.3, -0.3])
               for i, lab in enumerate(labels)]
    fusion = YamNetClassFusion(hop_seconds=0.48, labels=labels, weights=weights, bias=[0.0] * len(labels))
    path = save_checkpoint(tmp_path / "fused.pt", model=sliding.model, labels=labels,
                           feature_config=sliding.feature_config,
                           extra={**sliding.extra, "fusion": fusion.to_dict()})
    optimised, written = Segmenter(str(path)), Segmenter(str(path))
    assert optimised.engine.yamnet.float_optimized
    written.engine.score_with_yamnet(0.48, classes=fusion.classes, float_optimized=False)
    files = []
    for label in ("speech", "music", "noise"):
        by_size = sorted((root / label).glob("*.wav"), key=lambda p: (p.stat().st_size, p.name))
        files += by_size[len(by_size) // 2: len(by_size) // 2 + 3]  # around the median length
    same = total = 0
    for f in files:
        a, b = optimised.analyse(f), written.analyse(f)
        np.testing.assert_allclose(a.yamnet_scores, b.yamnet_scores, atol=2 * 0.7566, err_msg=f.name)
        np.testing.assert_allclose(a.network_probs, b.network_probs, atol=1e-6, err_msg=f.name)
        n = len(b.active)
        same += int((labels_on_grid(a.segments, n) == labels_on_grid(b.segments, n)).sum())
        total += n
    assert same / total >= 0.999, f"{same / total:.4%} of 20 ms frames agree"
