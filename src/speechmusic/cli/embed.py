"""``speechmusic embed MODEL INPUTS... -o OUT``: embeddings (timestamped, HEAR's shapes) of files.

MODEL is a checkpoint trained here (its red line) or a general embedder: ``ina``, ``ina:smn``,
``yamnet``, ``openl3[:mel256[:music[:512]]]``. INPUTS are audio files and folders (one ``.npz``
per file under OUT) or one manifest (``.csv``/``.jsonl``: one HDF5 store at OUT). A file that
fails is reported and the rest go on; the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechmusic.transfer.embed import EmbedFailure, embed_files, embed_manifest
from speechmusic.transfer.embedders import EMBEDDER_KINDS, load_embedder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="write embeddings of audio files (checkpoint red line, INA, "
                                     "YAMNet, OpenL3)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="checkpoint path or " + ", ".join(k for k in EMBEDDER_KINDS if k != "checkpoint"))
    p.add_argument("inputs", nargs="+", help="audio files, folders, or one manifest (.csv/.jsonl)")
    p.add_argument("-o", "--out", required=True,
                   help="output folder (files) or .h5 file (manifest)")
    p.add_argument("--weights", help="weight file (or folder, for OpenL3) of a general embedder")
    p.add_argument("--hop", type=float, help="seconds between embeddings (YAMNet, OpenL3)")
    p.add_argument("--hop-frames", type=int, help="feature frames between embeddings (checkpoints)")
    p.set_defaults(run=run)


def _is_manifest(inputs: list[str]) -> bool:
    return len(inputs) == 1 and Path(inputs[0]).suffix.lower() in (".csv", ".jsonl") \
        and Path(inputs[0]).is_file()


def run(args: argparse.Namespace) -> int:
    params = {}
    if args.hop is not None:
        params["hop_seconds"] = args.hop
    if args.hop_frames is not None:
        params["hop_frames"] = args.hop_frames
    embedder = load_embedder(args.model, weights=args.weights, **params)

    def report(f: EmbedFailure) -> None:
        print(f"FAILED {f.path}: {f.reason}", file=sys.stderr)

    if _is_manifest(args.inputs):
        from speechmusic.data.manifest import Manifest

        out = Path(args.out)
        if out.suffix.lower() not in (".h5", ".hdf5"):
            out = out / "embeddings.h5"
        result = embed_manifest(embedder, Manifest.load(args.inputs[0]), out, on_failure=report)
        where = out
    else:
        result = embed_files(embedder, args.inputs, args.out, on_failure=report)
        where = Path(args.out)
    print(f"{embedder.name}: {result.n_ok} embedded ({embedder.embedding_size}-d, every "
          f"{embedder.hop_seconds:g} s) -> {where}; {len(result.failures)} failed")
    return 0 if result.ok else 1
