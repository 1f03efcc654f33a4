"""``check_dataset`` and the ``speechmusic datasets`` command."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from speechmusic.cli import main
from speechmusic.data import DatasetSpec, Manifest, check_dataset, load_dataset


def _dataset(tmp_path):
    root = tmp_path / "ds"
    (root / "music").mkdir(parents=True)
    (root / "speech").mkdir()
    sf.write(root / "music" / "a.wav", np.zeros(16000, np.float32), 16000)
    sf.write(root / "music" / "b.wav", np.zeros((8000, 2), np.float32), 8000)
    sf.write(root / "speech" / "c.wav", np.zeros(22050 * 2, np.float32), 22050)
    (root / "speech" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    return root


def test_check_dataset_reports_counts_durations_rates_and_unreadable(tmp_path):
    root = _dataset(tmp_path)
    report = check_dataset(load_dataset(DatasetSpec(layout="folders", root=str(root))))
    assert report.counts == {"music": 2, "speech": 1}
    assert abs(report.seconds["music"] - 2.0) < 1e-6 and abs(report.seconds["speech"] - 2.0) < 1e-6
    assert report.sample_rates == {16000: 1, 8000: 1, 22050: 1}
    assert report.channels == {1: 2, 2: 1}
    assert len(report.unreadable) == 1 and report.unreadable[0][0].endswith("broken.wav")
    assert "unreadable: 1" in report.to_text()


def test_datasets_check_command(tmp_path, capsys):
    root = _dataset(tmp_path)
    rc = main(["datasets", "check", str(root), "--layout", "folders"])
    out = capsys.readouterr().out
    assert rc == 1  # an unreadable file
    assert "broken.wav" in out and "22050 Hz: 1" in out and "music" in out
    rc = main(["datasets", "check", str(root), "--layout", "folders", "--json", "--classes", "music"])
    data = json.loads(capsys.readouterr().out)
    assert rc == 0 and data["counts"] == {"music": 2} and data["unreadable"] == []


def test_datasets_manifest_command_and_options(tmp_path, capsys):
    root = _dataset(tmp_path)
    out = tmp_path / "m.jsonl"
    rc = main(["datasets", "manifest", str(root), "--layout", "folders", "--label-map", "speech=",
               "--option", "group_by=subfolder", "-o", str(out)])
    assert rc == 0
    m = Manifest.load(out)
    assert m.labels == ["music"] and len(m) == 2
    assert main(["datasets", "check", str(root), "--layout", "nope"]) == 2
    assert "unknown dataset layout" in capsys.readouterr().err
