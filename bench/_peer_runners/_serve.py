"""The loop every peer runner shares (stdlib only: it runs under each peer's own Python).

A runner is started as ``python <runner>.py '<options as JSON>'``. It loads its model, segments
``options["warmup"]`` once (untimed), then answers on stdout one JSON line per request line read
on stdin (``{"path": ...}``): ``{"path", "seconds", "segments": [[label, start, stop], ...]}``
and, for detectors with independent classes, ``"tiers": {class: [[start, stop], ...]}``. The
first line it writes is ``{"ready": true, "info": {...}}``. Anything the libraries print goes to
stderr: the protocol keeps stdout for itself.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback


def _protocol_stream():
    fd = os.dup(1)
    os.dup2(2, 1)  # C libraries' and Keras's prints land on stderr
    sys.stdout = sys.stderr
    return os.fdopen(fd, "w", buffering=1)


def os_threads() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return -1


def serve(options: dict, load, segment) -> None:
    """``load(options) -> (state, info)``; ``segment(state, path, request) -> dict``."""
    out = _protocol_stream()
    t = time.perf_counter()
    state, info = load(options)
    info["load_seconds"] = time.perf_counter() - t
    t = time.perf_counter()
    for path in options.get("warmup", []):
        segment(state, path, {"path": path})
    info["warmup_seconds"] = time.perf_counter() - t
    info["os_threads"] = os_threads()
    out.write(json.dumps({"ready": True, "info": info}) + "\n")
    while True:
        line = sys.stdin.readline()
        if not line:
            break
        request = json.loads(line)
        if request.get("quit"):
            break
        try:
            t = time.perf_counter()
            result = segment(state, request["path"], request)
            result["seconds"] = time.perf_counter() - t
        except Exception as exc:  # reported, and the loop goes on with the next file
            result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-2000:]}
        out.write(json.dumps({"path": request["path"], **result}) + "\n")


def options() -> dict:
    return json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
