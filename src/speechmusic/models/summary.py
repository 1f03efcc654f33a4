"""Parameter counts of every registered model, as a Markdown table.

Run ``python -m speechmusic.models.summary``; ``src/speechmusic/models/README.md`` holds its output.
"""

from __future__ import annotations

from speechmusic.features.config import FeatureConfig
from speechmusic.models.registry import build_model

__all__ = ["parameter_rows", "parameter_table"]

# (model, params, feature preset or embedding size, note)
_CASES: list[tuple[str, dict, str | int, str]] = [
    ("ina", {"variant": "sm"}, "melspec", "padding resolves to 'same'"),
    ("ina", {"variant": "sm"}, "mfcc_ina", "the paper's INA input"),
    ("ina", {"variant": "sm"}, "ina_sm", "published 'sm' network"),
    ("ina", {"variant": "smn"}, "ina_sm", "published 'smn' network (3 classes)"),
    ("ina", {"variant": "gender"}, "ina_gender", "published gender network"),
    ("swishnet", {}, "melspec", ""),
    ("swishnet", {}, "mfcc_swishnet", "SwishNet's own input"),
    ("vgg", {}, "melspec", "the paper's input"),
    ("vgg", {}, "mfcc_ina", ""),
    ("dnn", {}, "melspec", "the paper's input"),
    ("mlp_head", {}, 512, "on 512-d OpenL3 embeddings"),
    ("mlp_head", {}, 128, "on 128-d embeddings (vgg, dnn)"),
]


def parameter_rows() -> list[dict]:
    rows = []
    for name, params, source, note in _CASES:
        n_classes = 3 if params.get("variant") == "smn" else 2
        if isinstance(source, int):
            shape, where = (source,), f"embedding {source}"
        else:
            shape, where = FeatureConfig.preset(source).patch_shape, source
        model = build_model(name, n_classes=n_classes, input_shape=shape, **params)
        head = sum(p.numel() for p in model.classifier.parameters())
        rows.append({"model": name, "params": params, "input": where, "shape": shape,
                     "n_classes": n_classes, "total": model.n_parameters(),
                     "body_lower": sum(p.numel() for p in model.body.lower.parameters()),
                     "body_upper": sum(p.numel() for p in model.body.upper.parameters()),
                     "classifier": head, "embedding": model.embedding_size, "note": note})
    return rows


def parameter_table() -> str:
    lines = ["| model | params | input (shape) | classes | total | below green line | green to red line "
             "| output layer | embedding | note |",
             "|---|---|---|---|---:|---:|---:|---:|---:|---|"]
    for r in parameter_rows():
        params = ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "-"
        shape = "x".join(str(d) for d in r["shape"])
        lines.append(f"| {r['model']} | {params} | {r['input']} ({shape}) | {r['n_classes']} "
                     f"| {r['total']:,} | {r['body_lower']:,} | {r['body_upper']:,} | {r['classifier']:,} "
                     f"| {r['embedding']} | {r['note']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(parameter_table())
