"""The model architectures, INA's published networks (fetched once and converted for this
tool) and the checkpoints trained here."""

from __future__ import annotations

import argparse
import re

from speechmusic.cli._common import add_verb, clean_doc


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "models", doc=__doc__,
                 help="list the model architectures, import INA's published networks, "
                      "describe a checkpoint")
    verbs = p.add_subparsers(dest="models_verb", required=True, metavar="ACTION", title="actions",
                             help="what to do, one of:")
    add_verb(verbs, "list", help="list the model architectures that can be trained"
             ).set_defaults(run=_list)
    imp = add_verb(verbs, "import-ina", help="fetch inaSpeechSegmenter 0.6.8's wheel (pip), "
                                             "verify it and convert its three networks")
    imp.add_argument("--wheel", metavar="PATH", help="a local inaSpeechSegmenter-0.6.8 wheel instead of downloading")
    imp.add_argument("--force", action="store_true", help="convert again even if cached")
    imp.set_defaults(run=_import_ina)
    info = add_verb(verbs, "info", help="describe a checkpoint file: architecture, inputs, "
                                        "labels, features")
    info.add_argument("checkpoint", metavar="CHECKPOINT", help="a checkpoint written by `speechmusic run`")
    info.set_defaults(run=_info)


def _list(args: argparse.Namespace) -> int:
    from speechmusic.models import list_models, model_class

    for name in list_models():
        print(f"{name:10s} {_summary(model_class(name))}")
    return 0


def _summary(cls: type) -> str:
    """The first sentence of the class's docstring, as plain text; the first sentence of its
    module's docstring where the class's only points there."""
    import sys

    doc = cls.__doc__ or ""
    if "module docstring" in doc or not doc.strip():
        doc = getattr(sys.modules.get(cls.__module__), "__doc__", None) or doc
    text = " ".join(clean_doc(doc).split("\n\n")[0].split())
    return re.split(r"(?<=\.)\s", text)[0].rstrip(".")


def _import_ina(args: argparse.Namespace) -> int:
    from speechmusic.models import import_ina

    for path in import_ina(wheel=args.wheel, force=args.force):
        print(path)
    return 0


def _info(args: argparse.Namespace) -> int:
    from speechmusic.models import load_checkpoint

    ckpt = load_checkpoint(args.checkpoint)
    m = ckpt.model
    print(f"file:        {ckpt.path}")
    print(f"model:       {m.arch} {m.spec()['params']}")
    print(f"input:       {list(m.input_shape)}  labels: {ckpt.labels}")
    if ckpt.extra.get("input") == "embeddings":  # its feature config is nominal: name the embedder
        emb = ckpt.extra.get("embedder") or {}
        print(f"features:    {emb.get('name', '?')} embeddings ({emb.get('embedding_size', '?')}-d, one every "
              f"{emb.get('hop_seconds', '?')} s at {emb.get('sample_rate', '?')} Hz), read by the classifier")
    else:
        print(f"features:    {ckpt.feature_config.to_dict() if ckpt.feature_config else None}")
    print(f"parameters:  {m.n_parameters():,}  embedding: {m.embedding_size}")
    if ckpt.temperature != 1.0:
        print(f"calibration: softmax temperature {ckpt.temperature:.3f}")
    fusion = ckpt.extra.get("fusion")
    if fusion:  # segment/fusion.py: applied by the segmenter, needs YAMNet at run time
        print(f"second opinion: YAMNet (a frame every {fusion.get('hop_seconds', '?')} s) combined with the "
              "network's probabilities by a regression fitted on held-out folds; needs the `embeddings` extra")
    print(f"written by:  speechmusic {ckpt.package_version}")
    return 0
