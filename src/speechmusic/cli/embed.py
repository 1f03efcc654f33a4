"""Write embeddings of audio files: one vector every few hundred milliseconds, with its time
(the shapes of the HEAR benchmark).

MODEL is a checkpoint trained with ``speechmusic run`` (its embedding layer, the paper's red
line) or a general embedder: ``ina``, ``ina:smn``, ``yamnet``, ``openl3[:mel256[:music[:512]]]``.
INPUTs are audio files and folders (one ``.npz`` per file in the ``-o`` folder) or one manifest
(``.csv``/``.jsonl``: one HDF5 file at ``-o``). A file that fails is reported and the rest go on;
the exit status is 1 if any failed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechmusic.cli._common import add_output, add_verb
from speechmusic.transfer.embed import EmbedFailure, embed_files, embed_manifest
from speechmusic.transfer.embedders import EMBEDDER_KINDS, load_embedder


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "embed", doc=__doc__,
                 help="write embeddings (feature vectors over time) of audio files, from a "
                      "trained model or a general embedder (INA, YAMNet, OpenL3)")
    p.add_argument("model", metavar="MODEL",
                   help="checkpoint path or " + ", ".join(k for k in EMBEDDER_KINDS if k != "checkpoint"))
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="audio file, folder, or one manifest (.csv/.jsonl)")
    add_output(p, required=True, help="output folder (files) or .h5 file (manifest)")
    p.add_argument("--weights", metavar="PATH",
                   help="weight file (or folder, for OpenL3) of a general embedder")
    p.add_argument("--hop", type=float, metavar="SECONDS",
                   help="seconds between embeddings (YAMNet, OpenL3; default: the embedder's)")
    p.add_argument("--hop-frames", type=int, metavar="N",
                   help="feature frames between embeddings (checkpoints; default: the model's)")
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

        out = Path(args.output)
        if out.suffix.lower() not in (".h5", ".hdf5"):
            out = out / "embeddings.h5"
        result = embed_manifest(embedder, Manifest.load(args.inputs[0]), out, on_failure=report)
        where = out
    else:
        result = embed_files(embedder, args.inputs, args.output, on_failure=report)
        where = Path(args.output)
    print(f"{embedder.name}: {result.n_ok} embedded ({embedder.embedding_size}-d, every "
          f"{embedder.hop_seconds:g} s) -> {where}; {len(result.failures)} failed")
    return 0 if result.ok else 1
