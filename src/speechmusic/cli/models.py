"""``speechmusic models list|import-ina|info``: the model registry and INA's published weights."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list architectures, import INA's published weights")
    verbs = p.add_subparsers(dest="models_verb", required=True, metavar="ACTION")
    verbs.add_parser("list", help="the registered architectures").set_defaults(run=_list)
    imp = verbs.add_parser("import-ina", help="fetch inaSpeechSegmenter 0.6.8's wheel (pip), "
                                              "verify it and convert its three networks")
    imp.add_argument("--wheel", help="a local inaSpeechSegmenter-0.6.8 wheel instead of downloading")
    imp.add_argument("--force", action="store_true", help="convert again even if cached")
    imp.set_defaults(run=_import_ina)
    info = verbs.add_parser("info", help="describe a checkpoint file")
    info.add_argument("checkpoint")
    info.set_defaults(run=_info)


def _list(args: argparse.Namespace) -> int:
    from speechmusic.models import list_models, model_class

    for name in list_models():
        doc = (model_class(name).__doc__ or "").strip().splitlines()
        print(f"{name:10s} {doc[0] if doc else ''}")
    return 0


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
    print(f"features:    {ckpt.feature_config.to_dict() if ckpt.feature_config else None}")
    print(f"parameters:  {m.n_parameters():,}  embedding: {m.embedding_size}")
    print(f"written by:  speechmusic {ckpt.package_version}")
    return 0
