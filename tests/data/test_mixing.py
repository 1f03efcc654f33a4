"""The mixer: loudness differences as asked, groups never across splits, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("pyloudnorm")

from speechmusic.data.mixing import (  # noqa: E402
    MixConfig,
    Mixer,
    MixSource,
    attach_extra,
    collect_extra,
    collect_sources,
    loudness,
    redistributable,
    split_sources,
)
from speechmusic.errors import ConfigError  # noqa: E402
from tests.conftest import music_like, shared_path, speech_like  # noqa: E402

RATE = 16000


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list[MixSource]:
    """Generated recordings: 4 speakers, 3 albums, 2 noise sources, 2 files each."""
    root = tmp_path_factory.mktemp("mix")
    out = []
    rng = np.random.default_rng(0)
    for label, groups, make in (("speech", 4, speech_like), ("music", 3, music_like),
                                ("noise", 2, lambda sr, s, seed: (0.1 * np.random.default_rng(seed)
                                                                  .standard_normal(int(sr * s))).astype(np.float32))):
        for g in range(groups):
            for k in range(2):
                seed = int(rng.integers(1 << 30))
                path = root / f"{label}-{g}-{k}.wav"
                sf.write(path, make(RATE, 3.0, seed), RATE)
                out.append(MixSource(str(path), label, f"{label}{g}", "CC-BY-4.0", "gen", 3.0))
    return out


def test_loudness_difference_within_half_an_lu(sources):
    config = MixConfig(kinds={"speech+music": 1.0, "speech+noise": 1.0}, p_reverb=0.5, p_band_limit=0.0,
                       p_codec=0.0, seconds=3.0)
    mixer = Mixer(sources, config=config, seed=3)
    for i in range(8):
        ex = mixer[i]
        assert config.loudness_difference_db[0] <= ex.loudness_difference <= config.loudness_difference_db[1]
        assert abs((ex.speech_lufs - ex.background_lufs) - ex.loudness_difference) < 0.5
        assert ex.speech and (ex.music or ex.noise)
        assert np.abs(ex.audio).max() <= 0.99 + 1e-6


def test_set_loudness_difference_measured_on_the_parts(sources):
    from speechmusic.data.mixing import set_loudness_difference

    mixer = Mixer(sources, config=MixConfig(seconds=2.0), seed=0)
    rng = np.random.default_rng(1)
    speech, _ = mixer.excerpt("speech", 2 * RATE, rng)
    music, _ = mixer.excerpt("music", 2 * RATE, rng)
    for target in (-20.0, -5.0, 0.0, 10.0, 20.0):
        scaled, ls, lb = set_loudness_difference(speech, music, difference_db=target, sample_rate=RATE)
        assert abs(loudness(scaled, sample_rate=RATE) - loudness(music, sample_rate=RATE) - target) < 0.5


def test_deterministic_and_independent_of_order(sources):
    config = MixConfig(seconds=2.0, p_band_limit=0.5, p_codec=0.5, p_reverb=0.5)
    a = Mixer(sources, config=config, seed=7)
    b = Mixer(sources, config=config, seed=7)
    later = [b[i] for i in (5, 2, 0)]
    for ex_b, i in zip(later, (5, 2, 0), strict=True):
        ex_a = a[i]
        assert ex_a.kind == ex_b.kind and ex_a.effects == ex_b.effects
        np.testing.assert_array_equal(ex_a.audio, ex_b.audio)
    assert not np.array_equal(a[0].audio, Mixer(sources, config=config, seed=8)[0].audio)


def test_degradations_use_no_global_random_state(sources):
    import random

    config = MixConfig(seconds=2.0, p_band_limit=1.0, p_codec=1.0, p_reverb=1.0)
    state, np_state = random.getstate(), np.random.get_state()
    ex = Mixer(sources, config=config, seed=1)[0]
    assert len(ex.effects) >= 2
    assert random.getstate() == state
    assert all(np.array_equal(x, y) for x, y in zip(np.random.get_state(), np_state, strict=True)
               if isinstance(x, np.ndarray))


def test_split_keeps_groups_whole(sources):
    splits = split_sources(sources, fractions={"train": 0.5, "val": 0.25, "test": 0.25}, seed=0)
    seen: dict[str, str] = {}
    for name, members in splits.items():
        for s in members:
            assert seen.setdefault(s.key, name) == name
    assert sum(len(v) for v in splits.values()) == len(sources)
    assert all(any(s.label == "speech" for s in v) for v in splits.values())  # 4 speakers, 3 splits


def test_real_data_split_never_crosses():
    root = shared_path()
    srcs = collect_sources(root, redistributable_only=True)
    assert all(redistributable(s.licence) for s in srcs)
    assert not any("NC" in s.licence for s in srcs)
    splits = split_sources(srcs, fractions={"train": 0.6, "val": 0.2, "test": 0.2}, seed=0)
    keys = [{s.key for s in v} for v in splits.values()]
    assert not (keys[0] & keys[1]) and not (keys[0] & keys[2]) and not (keys[1] & keys[2])
    fsdd = {s.group for s in splits["train"] if s.dataset == "fsdd"}
    assert fsdd.isdisjoint({s.group for s in splits["test"] if s.dataset == "fsdd"})


def test_extra_music_joins_its_albums_split(sources, tmp_path):
    for name in ("battle", "knolls", "silence"):
        sf.write(tmp_path / f"{name}.ogg", music_like(RATE, 1.0, seed=3), RATE, format="OGG", subtype="VORBIS")
    extra = collect_extra("wesnoth-1.16-music", folder=tmp_path)
    assert [s.group for s in extra] == ["battle", "knolls"]  # a group per track; silence left out
    assert all(s.label == "music" and s.dataset == "wesnoth-1.16-music" and s.duration > 0.9 for s in extra)
    splits = split_sources(sources, fractions={"train": 0.5, "val": 0.25, "test": 0.25}, seed=0)
    album = next(s.key for s in splits["val"] if s.label == "music")
    got = attach_extra(splits, extra, album_key=album)
    assert got["val"] == splits["val"] + extra  # with the album, wherever it is
    assert got["train"] == splits["train"] and got["test"] == splits["test"]
    assert attach_extra(splits, extra, album_key="real-mix:absent")["train"] == splits["train"] + extra
    with pytest.raises(ConfigError):
        collect_extra("wesnoth-1.16-music", folder=tmp_path / "nowhere")


def test_config_round_trips_yaml_and_checks():
    config = MixConfig(loudness_difference_db=(-10, 5), kinds={"speech": 1, "speech+music": 3})
    again = MixConfig.from_yaml(config.to_yaml())
    assert again == config
    with pytest.raises(ConfigError):
        MixConfig(kinds={"jingle": 1.0})
    with pytest.raises(ConfigError):
        MixConfig(loudness_difference_db=(5, -5))
    with pytest.raises(ConfigError):
        MixConfig.from_dict({"loudness": 3})
