"""Every registered model on MelSpec patches and on its own MFCC input: shapes, batch consistency,
learning, checkpoints, and what each freezing strategy lets train."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from speechmusic.errors import ModelError
from speechmusic.features.config import FeatureConfig
from speechmusic.models import (
    TRAINABLE_STRATEGIES,
    build_model,
    list_models,
    load_checkpoint,
    save_checkpoint,
)

MELSPEC = FeatureConfig.preset("melspec").patch_shape  # (128, 10)
MFCC_INA = FeatureConfig.preset("mfcc_ina").patch_shape  # (21, 68)
MFCC_SWISH = FeatureConfig.preset("mfcc_swishnet").patch_shape  # (22, 16)

# (id, model, input shape, params)
CASES = [
    ("ina-melspec", "ina", MELSPEC, {}),
    ("ina-mfcc", "ina", MFCC_INA, {}),
    ("ina-smn-mfcc", "ina", MFCC_INA, {"variant": "smn"}),
    ("ina-gender", "ina", (24, 68), {"variant": "gender"}),
    ("swishnet-melspec", "swishnet", MELSPEC, {}),
    ("swishnet-mfcc", "swishnet", MFCC_SWISH, {}),
    ("vgg-melspec", "vgg", MELSPEC, {}),
    ("vgg-mfcc", "vgg", MFCC_INA, {}),
    ("vgg-tiny", "vgg", (5, 2), {}),
    ("dnn-melspec", "dnn", MELSPEC, {}),
    ("dnn-mfcc", "dnn", MFCC_SWISH, {}),
    ("mlp_head-embedding", "mlp_head", (512,), {}),
    ("mlp_head-melspec", "mlp_head", MELSPEC, {}),
    ("embedding_head-embedding", "embedding_head", (512,), {}),
    ("vgg-head", "vgg", MELSPEC, {"head_units": 128}),
]
IDS = [c[0] for c in CASES]

# Same layer pattern as the published INA network at a fraction of the width, for fast training.
SLIM_INA = {"layers": [{"conv": 8, "kernel": [5, 4]}, {"pool": [2, 2], "padding": "valid"},
                       {"conv": 8, "kernel": [3, 3]},
                       {"conv": 8, "kernel": [3, 3]}, {"pool": [2, 2], "padding": "same"},
                       {"conv": 16, "kernel": [3, 3]}, {"pool": "frames"}],
            "dense_units": [32, 32, 32, 32]}


def make(model: str, shape, params, n_classes: int = 3):
    return build_model(model, n_classes=n_classes, input_shape=shape, **params)


def test_every_registered_model_is_covered():
    assert {c[1] for c in CASES} == set(list_models())


@pytest.mark.parametrize(("case", "model", "shape", "params"), CASES, ids=IDS)
def test_shapes_and_finite(case, model, shape, params):
    net = make(model, shape, params).eval()
    x = torch.randn(4, *shape)
    with torch.no_grad():
        logits = net(x)
        emb = net.embed(x)
        probs = net.predict_proba(x)
    assert logits.shape == (4, 3)
    assert emb.shape == (4, net.embedding_size)
    assert torch.isfinite(logits).all() and torch.isfinite(emb).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(4))
    torch.testing.assert_close(net.classifier(emb), logits)
    with pytest.raises(ModelError, match="expected input"):
        net(torch.randn(4, *shape[:-1], shape[-1] + 1))


@pytest.mark.parametrize(("case", "model", "shape", "params"), CASES, ids=IDS)
def test_batch_equals_one_by_one(case, model, shape, params):
    net = make(model, shape, params).eval()
    x = torch.randn(5, *shape)
    with torch.no_grad():
        whole = net(x)
        single = torch.cat([net(x[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(whole, single, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("case", "model", "shape", "params"), CASES, ids=IDS)
def test_checkpoint_round_trip(case, model, shape, params, tmp_path):
    net = make(model, shape, params)
    x = torch.randn(3, *shape)
    net.train()
    net(torch.randn(8, *shape))  # move batch-norm statistics away from their initial values
    net.eval()
    with torch.no_grad():
        before = net(x)
    path = save_checkpoint(tmp_path / "m.pt", model=net, labels=["a", "b", "c"])
    ckpt = load_checkpoint(path)
    assert ckpt.model.arch == model and not ckpt.model.training
    assert ckpt.labels == ["a", "b", "c"]
    with torch.no_grad():
        after = ckpt.model(x)
    assert torch.equal(before, after)


def _trainable_prefixes(strategy: str) -> tuple[str, ...]:
    return {"frozen": ("classifier.",), "intermediate": ("classifier.", "body.upper."),
            "full": ("classifier.", "body.")}[strategy]


# The smn and gender variants differ from sm only in layer sizes: not worth the time here.
FREEZE_CASES = [c for c in CASES if c[0] not in ("ina-smn-mfcc", "ina-gender")]


@pytest.mark.parametrize("strategy", TRAINABLE_STRATEGIES)
@pytest.mark.parametrize(("case", "model", "shape", "params"), FREEZE_CASES, ids=[c[0] for c in FREEZE_CASES])
def test_one_step_moves_exactly_the_intended_parameters(case, model, shape, params, strategy):
    net = make(model, shape, params)
    net.set_trainable(strategy).train()
    params_before = {n: p.detach().clone() for n, p in net.named_parameters()}
    buffers_before = {n: b.clone() for n, b in net.named_buffers()}
    # Weight decay moves every parameter that takes part, even one whose gradient is zero (a
    # convolution bias in front of batch norm); frozen ones have no gradient and are skipped.
    opt = torch.optim.SGD(net.parameters(), lr=0.1, weight_decay=0.1)
    loss = F.cross_entropy(net(torch.randn(6, *shape)), torch.tensor([0, 1, 2, 0, 1, 2]))
    loss.backward()
    opt.step()

    wanted = _trainable_prefixes(strategy)
    moved = {n for n, p in net.named_parameters() if not torch.equal(p, params_before[n])}
    expected = {n for n in params_before if n.startswith(wanted)}
    assert moved == expected
    assert {n for n, p in net.named_parameters() if p.requires_grad} == expected

    # Batch-norm statistics: fixed in frozen parts, updated in training ones.
    changed = {n for n, b in net.named_buffers() if not torch.equal(b, buffers_before[n])}
    for name in buffers_before:
        assert (name in changed) == name.startswith(wanted), name


@pytest.mark.parametrize("strategy", TRAINABLE_STRATEGIES)
def test_frozen_parts_stay_in_eval_mode(strategy):
    net = make("ina", MFCC_INA, {}).set_trainable(strategy)
    net.train()
    modes = {name: m.training for name, m in net.named_modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout))}
    wanted = tuple(p.rstrip(".") for p in _trainable_prefixes(strategy))
    for name, training in modes.items():
        assert training == name.startswith(wanted), name
    net.eval()
    assert not any(m.training for m in net.modules())
    net.set_trainable("full").train()
    assert all(m.training for m in net.modules())


def _overfit(net: nn.Module, shape, *, steps: int, lr: float = 3e-3) -> float:
    x = torch.randn(12, *shape)
    y = torch.arange(12) % 3
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    accuracy = 0.0
    for step in range(steps):
        net.train()
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
        if step % 5 == 4:
            with torch.no_grad():
                accuracy = (net.eval()(x).argmax(-1) == y).float().mean().item()
            if accuracy == 1.0:
                break
    return accuracy


FAST_OVERFIT = [c for c in CASES if c[1] != "ina"] + [
    ("ina-slim-melspec", "ina", MELSPEC, SLIM_INA),
    ("ina-slim-mfcc", "ina", MFCC_INA, SLIM_INA),
]


@pytest.mark.parametrize(("case", "model", "shape", "params"), FAST_OVERFIT, ids=[c[0] for c in FAST_OVERFIT])
def test_overfits_a_batch(case, model, shape, params):
    net = make(model, shape, params)
    assert _overfit(net, shape, steps=300) == 1.0


@pytest.mark.slow
@pytest.mark.parametrize(("case", "model", "shape", "params"), [c for c in CASES if c[1] == "ina"],
                         ids=[c[0] for c in CASES if c[1] == "ina"])
def test_full_size_ina_overfits_a_batch(case, model, shape, params):
    net = make(model, shape, params)
    assert _overfit(net, shape, steps=400) == 1.0


def test_replace_classifier_for_transfer(tmp_path):
    net = make("vgg", MELSPEC, {}, n_classes=2)
    net.replace_classifier(n_classes=5)  # the paper's head: 128 units + output
    net.set_trainable("frozen")
    assert [type(m) for m in net.classifier] == [nn.Linear, nn.ReLU, nn.Linear]
    assert net.classifier[0].out_features == 128 and net.classifier[2].out_features == 5
    assert net.params["head_units"] == 128
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    assert trainable == {n for n, _ in net.classifier.named_parameters(prefix="classifier")}
    net.eval()
    x = torch.randn(2, *MELSPEC)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "t.pt", model=net, labels=list("abcde")))
    assert torch.equal(ckpt.model(x), net(x))


def test_swishnet_is_causal():
    net = make("swishnet", MFCC_SWISH, {}).eval()
    x = torch.randn(1, *MFCC_SWISH)
    y = x.clone()
    y[..., 10:] = torch.randn_like(y[..., 10:])  # change only the future of frame 9
    with torch.no_grad():
        a, b = net.body.lower(x), net.body.lower(y)
    torch.testing.assert_close(a[..., :10], b[..., :10])
    assert not torch.allclose(a[..., 10:], b[..., 10:])


def test_ina_padding_resolution():
    assert make("ina", MFCC_INA, {}).params["padding"] == "valid"
    assert make("ina", MELSPEC, {}).params["padding"] == "same"
    assert make("ina", (3, 1), {}).params["padding"] == "same_pools"
    with pytest.raises(ModelError, match="too small"):
        make("ina", MELSPEC, {"padding": "valid"})


def test_vgg_pools_like_keras_on_the_paper_input():
    net = make("vgg", MELSPEC, {})
    assert net.body.upper[0].in_features == 32 * 14 * 1  # 128x10 -> 42x3 -> 14x1
