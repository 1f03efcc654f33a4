"""Every patch of a long matrix at once (speechmusic.models.patchwise) equals the model on each patch."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from speechmusic.errors import ConfigError
from speechmusic.models import build_model
from speechmusic.models.patchwise import patchwise

# The published INA geometries (kernels, poolings and their paddings) with fewer channels.
INA_SM = [{"conv": 6, "kernel": [5, 4]}, {"pool": [2, 2], "padding": "valid"},
          {"conv": 8, "kernel": [3, 3]}, {"conv": 8, "kernel": [3, 3]}, {"pool": [2, 2], "padding": "same"},
          {"conv": 12, "kernel": [3, 3]}, {"pool": "frames"}]
INA_SMN = [{"conv": 6, "kernel": [7, 4]}, {"pool": [4, 2], "padding": "same"},
           {"conv": 8, "kernel": [3, 3]}, {"conv": 8, "kernel": [3, 3]}, {"pool": [2, 2], "padding": "same"},
           {"conv": 12, "kernel": [3, 3]}, {"pool": "frames"}]
INA_GENDER = [{"conv": 4, "kernel": [3, 3]}, {"conv": 4, "kernel": [3, 3]}, {"pool": [1, 2], "padding": "valid"},
              {"conv": 8, "kernel": [3, 3]}, {"conv": 8, "kernel": [3, 3]}, {"pool": [2, 2], "padding": "valid"},
              {"conv": 8, "kernel": [3, 3]}, {"pool": "frames"}]
SMALL_DENSE = {"dense_units": [16] * 4}

CONV_CASES = [
    pytest.param("vgg", (128, 10), {"channels": 4}, id="vgg-melspec"),
    pytest.param("vgg", (16, 10), {"channels": 6}, id="vgg-small"),
    pytest.param("vgg", (13, 7), {"channels": 4, "pool": 2}, id="vgg-odd-sizes"),
    pytest.param("vgg", (4, 2), {"channels": 4}, id="vgg-ceil-pools"),
    pytest.param("vgg", (16, 10), {"channels": 4, "head_units": 8}, id="vgg-appended-head"),
    pytest.param("ina", (128, 10), {"layers": INA_SM, **SMALL_DENSE}, id="ina-sm-melspec"),
    pytest.param("ina", (16, 10), {"layers": INA_SM, **SMALL_DENSE}, id="ina-sm-same-padding"),
    pytest.param("ina", (20, 10), {"layers": INA_SMN, **SMALL_DENSE}, id="ina-smn-same-padding"),
    pytest.param("ina", (21, 68), {"layers": INA_SM, **SMALL_DENSE}, id="ina-sm-valid"),
    pytest.param("ina", (24, 68), {"layers": INA_GENDER, **SMALL_DENSE}, id="ina-gender-valid"),
    pytest.param("ina", (16, 9), {"layers": INA_SM, "padding": "same_pools", **SMALL_DENSE}, id="ina-same-pools"),
]


def _model(arch: str, shape: tuple[int, int], **params) -> nn.Module:
    """A model with random weights and random batch-norm statistics (so that folding them is
    tested), in eval mode."""
    torch.manual_seed(1)
    model = build_model(arch, n_classes=3, input_shape=shape, **params)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.2)
    return model.eval()


def _one_by_one(model: nn.Module, x: torch.Tensor, step: int) -> torch.Tensor:
    width = model.input_shape[1]
    with torch.no_grad():
        return torch.cat([model(x[None, :, s: s + width]) for s in range(0, x.shape[1] - width + 1, step)])


@pytest.mark.parametrize("arch,shape,params", CONV_CASES)
def test_shared_evaluation_equals_each_patch_on_its_own(arch, shape, params):
    model = _model(arch, shape, **params)
    x = 2 * torch.randn(shape[0], 97)
    net = patchwise(model)
    assert net.shared
    for step in (1, 2, 3):
        expected = _one_by_one(model, x, step)
        fast = net.logits(x, step=step)
        exact = net.logits(x, step=step, mode="exact", batch_size=7)  # batched, in several batches
        assert fast.shape == exact.shape == expected.shape
        torch.testing.assert_close(exact, expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(fast, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("arch,shape,params", [("dnn", (16, 10), {}), ("swishnet", (16, 10), {}),
                                               ("dnn", (16, 10), {"head_units": 8})])
def test_models_without_a_column_program_run_patch_by_patch_in_both_modes(arch, shape, params):
    model = _model(arch, shape, **params)
    net = patchwise(model)
    assert not net.shared
    x = torch.randn(shape[0], 40)
    expected = _one_by_one(model, x, 2)
    torch.testing.assert_close(net.logits(x, step=2), expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(net.logits(x, step=2, mode="exact", batch_size=3), expected, atol=1e-6, rtol=1e-5)


def test_patches_of_a_block_do_not_depend_on_the_rest_of_the_matrix():
    """Per-patch zero padding is kept: a patch's logits are the same whatever lies around it."""
    model = _model("vgg", (16, 10), channels=4)
    x = torch.randn(16, 80)
    whole = patchwise(model).logits(x)
    part = patchwise(model).logits(x[:, 23:61])
    torch.testing.assert_close(part, whole[23: 23 + part.shape[0]], atol=1e-5, rtol=1e-4)


def test_per_patch_standardisation_is_applied_to_each_patch():
    model = _model("ina", (16, 10), layers=INA_SM, **SMALL_DENSE)
    x = 5 + 3 * torch.randn(16, 30)
    patches = x.unfold(1, 10, 1).permute(1, 0, 2)
    mean = patches.mean(dim=(1, 2), keepdim=True)
    std = patches.std(dim=(1, 2), keepdim=True, unbiased=False)
    with torch.no_grad():
        expected = model((patches - mean) / std)
    for mode in ("fast", "exact"):
        got = patchwise(model).logits(x, mode=mode, per_patch=True)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)


def test_cached_evaluator_follows_weights_changed_in_place():
    model = _model("vgg", (16, 10), channels=4)
    x = torch.randn(16, 30)
    before = patchwise(model).logits(x)
    with torch.no_grad():
        model.body.lower[1].weight.mul_(0.5)
    after = patchwise(model).logits(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, _one_by_one(model, x, 1), atol=1e-5, rtol=1e-4)


def test_block_size_is_bounded_and_inputs_are_checked():
    net = patchwise(_model("vgg", (16, 10), channels=4))
    assert 64 <= net.block_patches() <= 2000
    assert net.block_patches(max_bytes=1) == 64
    with pytest.raises(ConfigError, match="at least 10 frames"):
        net.logits(torch.randn(16, 9))
    with pytest.raises(ConfigError, match="expected features"):
        net.logits(torch.randn(15, 40))
    with pytest.raises(ConfigError, match="mode"):
        net.logits(torch.randn(16, 40), mode="approximate")


@pytest.mark.parametrize("layers", [INA_SM, INA_SMN], ids=["sm", "smn"])
def test_patches_every_other_frame_convolve_half_the_positions_after_the_first_pooling(layers):
    """INA's networks pool frames by 2 first: with a patch every 2 frames (the 20 ms grid on
    10 ms frames) every map after that pooling is read at positions of one parity only, and
    only those are computed (before 2026-12-04 all were, and half thrown away)."""
    net = patchwise(_model("ina", (21, 68), layers=layers, **SMALL_DENSE))
    every, halved = net._compiled.plan(400, 1), net._compiled.plan(400, 2)
    convs = [i for i in halved.order if halved.nodes[i].kind in ("product", "conv")]
    assert convs[0] not in halved.phase  # the pooling reads both parities of the first convolution
    assert all(i in halved.phase for i in convs[1:])
    for i in convs[1:]:
        assert halved.decimated_length(i) == -(-(every.decimated_length(i) - halved.phase[i]) // 2)
    x = torch.randn(21, 400)
    torch.testing.assert_close(net.logits(x, step=2), _one_by_one(net.model, x, 2), atol=1e-5, rtol=1e-4)
