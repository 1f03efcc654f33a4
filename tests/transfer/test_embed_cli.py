"""``speechmusic embed``: per-file .npz, a manifest store, failures reported, exit status."""

from __future__ import annotations

import json

import numpy as np

from speechmusic.cli import main
from speechmusic.data.manifest import Clip, Manifest
from speechmusic.transfer import read_embedding_store
from tests.conftest import music_like, speech_like


def test_embed_files_reports_failures_and_goes_on(tiny_ckpt, write_wav, tmp_path, capsys):
    a = write_wav("a.wav", speech_like(16000, 1.2), 16000)
    sub = tmp_path / "folder"
    sub.mkdir()
    write_wav("folder/b.wav", music_like(16000, 0.9), 16000)
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....not audio")
    out = tmp_path / "out"
    rc = main(["embed", str(tiny_ckpt), str(a), str(sub), str(broken), str(tmp_path / "missing.wav"),
               "-o", str(out)])
    captured = capsys.readouterr()
    assert rc == 1
    assert "FAILED" in captured.err and "broken.wav" in captured.err and "missing.wav" in captured.err
    assert "2 embedded" in captured.out
    z = np.load(out / "a.npz")
    assert z["embeddings"].ndim == 2 and z["embeddings"].dtype == np.float32
    assert z["timestamps"].shape == (z["embeddings"].shape[0],)
    np.testing.assert_allclose(z["scene"], z["embeddings"].mean(axis=0), rtol=1e-6)
    assert json.loads(str(z["embedder"]))["kind"] == "checkpoint"
    assert (out / "folder" / "b.npz").is_file()
    # All good: exit status 0.
    assert main(["embed", str(tiny_ckpt), str(a), "-o", str(tmp_path / "out2")]) == 0


def test_embed_manifest_store(tiny_ckpt, write_wav, tmp_path, capsys):
    clips = [Clip(id=f"c{i}", path=str(write_wav(f"{i}.wav", speech_like(16000, 1.0, seed=i), 16000)),
                  label="speech", group=f"g{i}") for i in range(3)]
    clips.append(Clip(id="seg", path=clips[0].path, label="speech", group="g0", start=0.25, duration=0.5))
    clips.append(Clip(id="gone", path=str(tmp_path / "gone.wav"), label="speech", group="x"))
    manifest = Manifest(clips).save(tmp_path / "m.csv")
    out = tmp_path / "store.h5"
    assert main(["embed", str(tiny_ckpt), str(manifest), "-o", str(out)]) == 1
    store = read_embedding_store(out)
    assert sorted(store) == ["c0", "c1", "c2", "seg"]
    e0, t0 = store["c0"]
    es, ts = store["seg"]
    assert e0.shape[1] == es.shape[1] and len(es) < len(e0) and len(ts) == len(es)
    assert "gone.wav" in capsys.readouterr().err
