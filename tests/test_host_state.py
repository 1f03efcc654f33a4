"""A library leaves its host process alone: importing speechmusic, segmenting a file and rendering
report figures change no process-wide setting. Each check runs in a fresh interpreter, since some
settings (the environment, malloc) can only be seen being changed from the start."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import music_like, speech_like

# Records every C function looked up through ctypes, the state it can read back, and the libc
# rand() sequence (reseeding or drawing from it shows as a different sequence).
PROBE = textwrap.dedent('''
    import ctypes, json, os, sys, threading
    looked_up = []
    _getattr = ctypes.CDLL.__getattr__
    def spy(self, name):
        looked_up.append(name)
        return _getattr(self, name)
    ctypes.CDLL.__getattr__ = spy
    libc = ctypes.CDLL(None)
    import torch, matplotlib

    def threads_in_new_thread():
        box = []
        t = threading.Thread(target=lambda: box.append(torch.get_num_threads()))
        t.start(); t.join()
        return box[0]

    def state():
        return {"env": dict(os.environ), "switch": sys.getswitchinterval(),
                "threads": torch.get_num_threads(), "threads_new": threads_in_new_thread(),
                "interop": torch.get_num_interop_threads(),
                "backend": matplotlib.rcParams._get_backend_or_none(),
                "pyplot": "matplotlib.pyplot" in sys.modules}

    libc.srand(12345)
    before = state()
    expected_rand = None
    looked_up.clear()
    WORK
    after = state()
    rand_now = [libc.rand() for _ in range(4)]
    libc.srand(12345)
    print(json.dumps({"before": before, "after": after, "looked_up": looked_up,
                      "rand_same": rand_now == [libc.rand() for _ in range(4)]}))
''')

FORBIDDEN_C = {"mallopt", "srand", "srandom", "setenv", "putenv", "unsetenv", "mkl_set_num_threads"}


def _probe(work: str) -> dict:
    code = PROBE.replace("WORK", textwrap.dedent(work).strip())
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _assert_untouched(result: dict) -> None:
    before, after = result["before"], result["after"]
    added = {k: v for k, v in after["env"].items() if before["env"].get(k) != v}
    removed = set(before["env"]) - set(after["env"])
    assert not added and not removed, f"environment changed: {added} {removed}"
    for key in ("switch", "threads", "threads_new", "interop", "backend", "pyplot"):
        assert after[key] == before[key], f"{key}: {before[key]!r} -> {after[key]!r}"
    assert not FORBIDDEN_C & set(result["looked_up"]), result["looked_up"]
    assert result["rand_same"], "the C library's rand() was reseeded or drawn from"


def test_importing_the_package_changes_nothing():
    _assert_untouched(_probe("import speechmusic, speechmusic.segment, speechmusic.cli, "
                             "speechmusic.training, speechmusic.evaluation, speechmusic.transfer"))


def test_segmenting_changes_nothing(ina_weights, tmp_path):
    sr = 16000
    path = tmp_path / "programme.wav"
    sf.write(path, np.concatenate([speech_like(sr, 4, seed=1), music_like(sr, 4, seed=2)]), sr)
    result = _probe(f'''
        from speechmusic.segment import Segmenter
        for gender in (False, True):
            segments = Segmenter("smn", gender=gender)({str(path)!r})
            assert segments
    ''')
    _assert_untouched(result)


def test_report_figures_change_nothing():
    result = _probe('''
        from speechmusic.evaluation.report import _figure4
        png = _figure4([{"model": "INA", "title": "INA", "input": "MelSpec", "of_datasets": 4,
                         "frame_accuracy_mean": 0.9, "frame_accuracy_std": 0.01,
                         "file_accuracy_mean": 0.95, "file_accuracy_std": 0.02}])
        assert png.startswith(b"\\x89PNG")
    ''')
    _assert_untouched(result)


def test_demo_speech_leaves_the_c_rand_sequence_alone():
    pytest.importorskip("espeakng_loader")
    result = _probe('''
        from speechmusic.demo.speech import synthesize
        assert len(synthesize("hello there", voice="en+m1")) > 0
    ''')
    _assert_untouched(result)


def test_the_command_tunes_its_own_process():
    """What the library leaves alone, the ``speechmusic`` command sets for itself."""
    code = textwrap.dedent('''
        import sys, os
        from speechmusic.cli import console_main
        sys.argv = ["speechmusic", "--version"]
        try:
            console_main()
        except SystemExit:
            pass
        print(os.environ.get("THP_MEM_ALLOC_ENABLE"), round(sys.getswitchinterval() * 1e6))
    ''')
    env = {k: v for k, v in __import__("os").environ.items() if k != "THP_MEM_ALLOC_ENABLE"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         timeout=120).stdout.split()
    assert out[-2:] == ["1", "200"]
