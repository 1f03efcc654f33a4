"""load_audio and iter_audio_blocks: formats, rates, channels, and every kind of bad input."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
import soundfile as sf

from speechmusic.audio import (
    audio_info,
    iter_audio_blocks,
    iter_audio_rates,
    libav_available,
    load_audio,
    peak_normalize,
)
from speechmusic.errors import (
    AudioDecodeError,
    AudioError,
    AudioFileNotFoundError,
    ConfigError,
    EmptyAudioError,
    NonFiniteAudioError,
    SpeechMusicError,
    UnsupportedAudioError,
)
from tests.conftest import chirp, shared_path, tone


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_bit_depths_decode_to_the_same_signal(write_wav, subtype):
    x = tone(22050, 0.5, amp=0.8)
    path = write_wav(f"t_{subtype}.wav", x, 22050, subtype)
    y = load_audio(path, sr=22050, normalize=False)
    assert y.dtype == np.float32 and y.shape == x.shape
    tol = 1e-4 if subtype == "PCM_16" else 1e-6
    np.testing.assert_allclose(y, x, atol=tol)


@pytest.mark.parametrize("sr_in", [8000, 11025, 16000, 22050, 44100, 48000, 96000])
def test_sample_rates_resample_to_target(write_wav, sr_in):
    x = tone(sr_in, 1.0, freq=440.0)
    path = write_wav(f"r{sr_in}.wav", x, sr_in)
    y = load_audio(path, sr=22050, normalize=False)
    assert abs(len(y) - 22050) <= 1
    # The tone survives resampling: its spectrum peaks at 440 Hz.
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    assert abs(np.argmax(spec) * 22050 / len(y) - 440) < 2


@pytest.mark.parametrize("channels", [1, 2, 3, 6, 8])
def test_channels_are_averaged_to_mono(write_wav, channels):
    x = np.stack([tone(16000, 0.25, amp=0.1 * (c + 1)) for c in range(channels)])
    path = write_wav(f"c{channels}.wav", x, 16000)
    mono = load_audio(path, sr=16000, normalize=False)
    np.testing.assert_allclose(mono, x.mean(0), atol=1e-4)
    multi = load_audio(path, sr=16000, mono=False, normalize=False)
    assert multi.shape == (channels, x.shape[1])


def test_more_than_eight_channels_is_refused(write_wav):
    path = write_wav("c9.wav", np.zeros((9, 1000), dtype=np.float32), 16000)
    with pytest.raises(UnsupportedAudioError, match="c9.wav.*9 channels"):
        load_audio(path)


def test_peak_normalisation_and_flag(write_wav):
    path = write_wav("quiet.wav", tone(22050, 0.2, amp=0.1), 22050)
    assert np.max(np.abs(load_audio(path))) == pytest.approx(1.0, abs=1e-6)
    assert np.max(np.abs(load_audio(path, normalize=False))) == pytest.approx(0.1, abs=1e-3)
    silence = np.zeros(100, dtype=np.float32)
    np.testing.assert_array_equal(peak_normalize(silence), silence)


def test_offset_and_duration(write_wav):
    x = chirp(22050, 2.0)
    path = write_wav("c.wav", x, 22050)
    y = load_audio(path, sr=22050, offset=0.5, duration=1.0, normalize=False)
    np.testing.assert_allclose(y, x[11025:33075], atol=1e-4)


def test_missing_file(tmp_path):
    with pytest.raises(AudioFileNotFoundError, match="nothere.wav.*no such file"):
        load_audio(tmp_path / "nothere.wav")


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(EmptyAudioError, match="empty.wav"):
        load_audio(path)


def test_header_only_wav_has_no_samples(write_wav):
    path = write_wav("noframes.wav", np.zeros(0, dtype=np.float32), 22050)
    with pytest.raises(EmptyAudioError, match="noframes.wav"):
        load_audio(path)


def test_garbage_file_is_a_decode_error(tmp_path, monkeypatch):
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"RIFF\x00\x00junk" + bytes(range(256)) * 4)
    with pytest.raises(AudioDecodeError, match="garbage.wav"):
        load_audio(path)
    # Without ffmpeg the message says how to get it.
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(AudioDecodeError, match="ffmpeg"):
        load_audio(path)


def test_truncated_wav_gives_the_samples_it_holds_or_a_clear_error(write_wav):
    x = tone(22050, 1.0)
    path = write_wav("trunc.wav", x, 22050, "PCM_16")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # header still claims the full length
    try:
        y = load_audio(path, sr=22050, normalize=False)
    except AudioError as exc:
        assert "trunc.wav" in str(exc)
    else:
        # libsndfile clips the claimed length to what is there: the first half, intact.
        assert 0 < len(y) < len(x)
        np.testing.assert_allclose(y, x[: len(y)], atol=1e-4)


def test_nan_and_inf_samples_are_refused(write_wav):
    x = tone(22050, 0.1)
    x[10] = np.nan
    path = write_wav("nan.wav", x, 22050, "FLOAT")
    with pytest.raises(NonFiniteAudioError, match="nan.wav.*NaN or infinite"):
        load_audio(path)
    x[10] = np.inf
    path = write_wav("inf.wav", x, 22050, "FLOAT")
    with pytest.raises(NonFiniteAudioError, match="inf.wav"):
        load_audio(path)
    with pytest.raises(NonFiniteAudioError, match="inf.wav"):
        list(iter_audio_blocks(path, sr=22050, block_seconds=0.05))


def test_every_audio_error_is_a_speechmusic_error():
    assert issubclass(AudioError, SpeechMusicError)
    assert issubclass(AudioFileNotFoundError, FileNotFoundError)


def test_shorter_than_one_window_still_loads(write_wav):
    path = write_wav("tiny.wav", tone(22050, 0.001), 22050)
    assert load_audio(path).shape == (22,)


@pytest.mark.parametrize("block_seconds", [0.3, 1.0, 10.0])
@pytest.mark.parametrize("sr_in", [16000, 22050, 44100])
def test_blocks_concatenate_to_the_whole_file(write_wav, block_seconds, sr_in):
    x = chirp(sr_in, 2.3) * 0.5
    path = write_wav("long.wav", x, sr_in)
    whole = load_audio(path, sr=22050)
    blocks = list(iter_audio_blocks(path, sr=22050, block_seconds=block_seconds))
    block_len = int(round(block_seconds * 22050))
    assert all(len(b) == block_len for b in blocks[:-1])
    joined = np.concatenate(blocks)
    assert abs(len(joined) - len(whole)) <= 1
    n = min(len(joined), len(whole))
    # soxr's streaming and one-shot modes agree to round-off away from the file edges.
    np.testing.assert_allclose(joined[100: n - 100], whole[100: n - 100], atol=1e-4)
    # Peak-normalised at the native rate: resampling may overshoot by inter-sample peaks.
    assert np.max(np.abs(joined)) == pytest.approx(1.0, abs=0.05)


def test_info(write_wav):
    path = write_wav("i.wav", np.zeros((2, 4410), dtype=np.float32), 44100)
    info = audio_info(path)
    assert (info.sample_rate, info.channels, info.frames) == (44100, 2, 4410)
    assert info.duration == pytest.approx(0.1)


def test_reads_real_ogg():
    path = shared_path("librosa-data", "audio", "198-209-0000.ogg")
    y = load_audio(path, sr=16000)
    assert y.ndim == 1 and len(y) > 16000 and np.max(np.abs(y)) == pytest.approx(1.0, abs=0.01)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_ffmpeg_fallback_reads_m4a(tmp_path, write_wav):
    src = write_wav("src.wav", tone(22050, 1.0), 22050)
    dst = tmp_path / "clip.m4a"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(src), str(dst)], check=True)
    y = load_audio(dst, sr=22050)
    assert abs(len(y) - 22050) < 2048  # AAC adds priming samples
    blocks = list(iter_audio_blocks(dst, sr=22050, block_seconds=0.25))
    assert abs(sum(map(len, blocks)) - len(y)) < 2048


def test_directory_is_not_audio(tmp_path):
    with pytest.raises(AudioDecodeError, match="directory"):
        load_audio(tmp_path)


def test_sf_roundtrip_sanity(write_wav):
    path = write_wav("s.wav", tone(8000, 0.1), 8000, "PCM_16")
    assert sf.info(str(path)).samplerate == 8000


# ----------------------------------------------------------------------------- decoder="libav"

needs_libav = pytest.mark.skipif(not libav_available(), reason="PyAV is not installed")
needs_libav_and_ffmpeg = pytest.mark.skipif(
    not libav_available() or shutil.which("ffmpeg") is None, reason="needs PyAV and the ffmpeg command")


def _decoded(path, decoder: str, block_seconds: float = 0.7) -> np.ndarray:
    return np.concatenate(list(iter_audio_blocks(path, sr=16000, block_seconds=block_seconds,
                                                 normalize=False, decoder=decoder)))


@needs_libav_and_ffmpeg
@pytest.mark.parametrize("sr_in,channels,subtype", [(22050, 1, "PCM_16"), (44100, 2, "PCM_16"),
                                                    (48000, 2, "FLOAT"), (16000, 1, "PCM_16")])
def test_libav_gives_the_ffmpeg_commands_samples_on_wav(write_wav, sr_in, channels, subtype):
    x = chirp(sr_in, 2.3)
    data = np.stack([x, 0.5 * x[::-1]]) if channels == 2 else x
    path = write_wav("in.wav", data, sr_in, subtype)
    np.testing.assert_array_equal(_decoded(path, "libav"), _decoded(path, "ffmpeg"))


@needs_libav_and_ffmpeg
def test_libav_is_within_one_step_of_the_ffmpeg_command_on_ogg(tmp_path):
    path = tmp_path / "in.ogg"
    sf.write(path, np.stack([chirp(44100, 3.0), tone(44100, 3.0)], axis=1), 44100, format="OGG")
    a, b = _decoded(path, "libav"), _decoded(path, "ffmpeg")
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= 1 / 32768 + 1e-9  # decoder versions differ in the last bit


@needs_libav
def test_libav_blocks_do_not_depend_on_the_block_size(write_wav):
    path = write_wav("in.wav", chirp(44100, 2.0), 44100)
    blocks = list(iter_audio_blocks(path, sr=16000, block_seconds=0.25, normalize=False, decoder="libav"))
    assert all(len(b) == 4000 for b in blocks[:-1]) and blocks[0].dtype == np.float32
    np.testing.assert_array_equal(np.concatenate(blocks), _decoded(path, "libav", block_seconds=10.0))


@needs_libav
def test_libav_bad_inputs_name_the_file_and_reason(tmp_path):
    with pytest.raises(AudioFileNotFoundError):
        _decoded(tmp_path / "missing.ogg", "libav")
    empty = tmp_path / "empty.mp3"
    empty.write_bytes(b"")
    with pytest.raises(EmptyAudioError):
        _decoded(empty, "libav")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio at all" * 50)
    with pytest.raises(AudioDecodeError, match="junk.mp3"):
        _decoded(junk, "libav")


# ----------------------------------------------------------------------------- iter_audio_rates


def _rates(path, decoder: str, rates=(16000, 22050), block_seconds: float = 0.3) -> list[np.ndarray]:
    items = list(iter_audio_rates(path, rates, block_seconds=block_seconds, decoder=decoder))
    assert all(len(item) == len(rates) for item in items)
    return [np.concatenate(column) for column in zip(*items, strict=True)]


@pytest.mark.parametrize("decoder", ["auto", "soxr", pytest.param("libav", marks=needs_libav)])
@pytest.mark.parametrize("subtype,channels", [("PCM_16", 2), ("PCM_24", 1), ("PCM_U8", 2), ("FLOAT", 1)])
def test_one_decode_at_several_rates_gives_each_rates_samples(write_wav, decoder, subtype, channels):
    x = chirp(44100, 1.3)
    path = write_wav("in.wav", np.stack([x, 0.5 * x[::-1]]) if channels == 2 else x, 44100, subtype)
    got = _rates(path, decoder, rates=(16000, 22050, 44100))
    for rate, samples in zip((16000, 22050, 44100), got, strict=True):
        want = np.concatenate(list(iter_audio_blocks(path, sr=rate, normalize=False, block_seconds=0.3)))
        np.testing.assert_array_equal(samples, want)


@needs_libav
def test_one_decode_at_several_rates_by_libav_reads_ogg_like_libsndfile(tmp_path):
    path = tmp_path / "in.ogg"
    sf.write(path, np.stack([chirp(44100, 2.0), tone(44100, 2.0)], axis=1), 44100, format="OGG")
    for a, b in zip(_rates(path, "libav"), _rates(path, "auto"), strict=True):
        assert a.shape == b.shape
        assert np.abs(a - b).max() < 1e-3  # two Vorbis decoders


def test_one_decode_at_several_rates_refuses_bad_arguments(write_wav, tmp_path):
    path = write_wav("in.wav", tone(8000, 0.5), 8000)
    for kwargs in ({"decoder": "nope"}, {"block_seconds": 0}):
        with pytest.raises(ConfigError):
            next(iter_audio_rates(path, (16000,), **kwargs))
    with pytest.raises(ConfigError):
        next(iter_audio_rates(path, ()))
    with pytest.raises(AudioFileNotFoundError):
        next(iter_audio_rates(tmp_path / "missing.wav", (16000,), decoder="libav"))


@needs_libav
def test_libav_frames_whose_format_changes_part_way_are_all_decoded(monkeypatch, tmp_path):
    """PyAV's frames go through a FIFO in large pieces; a stream whose sample format or channel
    layout changes part-way still gives every frame's samples, in order, downmixed."""
    import av

    from speechmusic import audio

    rng = np.random.default_rng(0)
    mono = [rng.integers(-2**15, 2**15, size=(1, 700), dtype=np.int16) for _ in range(30)]
    stereo = [rng.uniform(-1, 1, size=(2, 500)).astype(np.float32) for _ in range(40)]

    def frames(path):
        for data in mono:
            frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
            frame.sample_rate = 16000
            yield frame
        for data in stereo:
            frame = av.AudioFrame.from_ndarray(data, format="fltp", layout="stereo")
            frame.sample_rate = 16000
            yield frame

    monkeypatch.setattr(audio, "_libav_frames", frames)
    (got,) = _rates(tmp_path / "changing.mka", "libav", rates=(16000,))
    want = np.concatenate([d[0].astype(np.float32) / 32768 for d in mono] + [d.mean(axis=0) for d in stereo])
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7)


def _mkv_with_video(path, audio: np.ndarray, sr: int) -> None:
    """A Matroska file with a video stream first, then 16-bit PCM audio (``audio`` int16)."""
    import av

    with av.open(str(path), "w", format="matroska") as out:
        video = out.add_stream("ffv1", rate=10)
        video.width, video.height, video.pix_fmt = 32, 32, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=sr, layout="mono")
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 20 * i, np.uint8), format="rgb24")
            out.mux(video.encode(frame.reformat(format="yuv420p")))
        for i in range(0, len(audio), 1000):
            frame = av.AudioFrame.from_ndarray(audio[None, i: i + 1000], format="s16", layout="mono")
            frame.sample_rate, frame.pts = sr, i
            out.mux(sound.encode(frame))
        out.mux(video.encode(None))
        out.mux(sound.encode(None))


@needs_libav
def test_libav_probes_an_audio_file_briefly_and_anything_else_fully(write_wav, tmp_path):
    """A file with one audio stream whose header says its format is opened after a 32 KB probe
    (FFmpeg reads 5 MB by default); a file with more streams (a video) is probed in full, and
    both decode to their samples."""
    import av

    from speechmusic.audio import _libav_open_quickly

    x = chirp(16000, 3.0)
    wav = write_wav("in.wav", x, 16000)
    quick = _libav_open_quickly(av, wav)
    assert quick is not None and quick.streams.audio[0].codec_context.sample_rate == 16000
    quick.close()
    pcm = np.round(x * 20000).astype(np.int16)
    mkv = tmp_path / "film.mkv"
    _mkv_with_video(mkv, pcm, 16000)
    assert _libav_open_quickly(av, mkv) is None
    np.testing.assert_array_equal(_decoded(mkv, "libav"), pcm.astype(np.float32) / 32768)
    np.testing.assert_array_equal(_decoded(wav, "libav"), _decoded(wav, "ffmpeg") if shutil.which("ffmpeg")
                                  else _decoded(wav, "libav", block_seconds=10.0))
