"""Freezing strategies on real checkpoints: after one optimiser step, FZ changed only the appended
classifier, IN exactly the layers after the green line (and the classifier), FT everything."""

from __future__ import annotations

import pytest
import torch

from speechmusic.models import load_checkpoint
from speechmusic.transfer import transfer_model
from tests.transfer.conftest import TINY, tiny_checkpoint

ARCHS = {"vgg": {}, "swishnet": {}, "ina": {"dense_units": [32, 32], "dropouts": [0.2, 0.3], "layers": [
    {"conv": 8, "kernel": [3, 3]}, {"pool": [2, 2], "padding": "same"}, {"conv": 8, "kernel": [3, 3]},
    {"pool": "frames"}]}, "dnn": {}}


def _one_step(model) -> dict[str, torch.Tensor]:
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    opt = torch.optim.Adam(model.trainable_parameters(), lr=1e-2)
    x = torch.randn(8, *TINY.patch_shape)
    y = torch.arange(8) % 3
    model.train()
    opt.zero_grad()
    torch.nn.functional.cross_entropy(model(x), y).backward()
    opt.step()
    return before


def _changed(model, before) -> set[str]:
    after = model.state_dict()
    return {k for k in before if before[k].shape != after[k].shape or not torch.equal(before[k], after[k])}


@pytest.fixture(scope="module", params=sorted(ARCHS))
def pretrained(request, tmp_path_factory):
    arch = request.param
    return arch, tiny_checkpoint(tmp_path_factory.mktemp(arch) / f"{arch}.pt", arch=arch,
                                 params=ARCHS[arch], steps=2)


@pytest.mark.parametrize("strategy", ["frozen", "intermediate", "full"])
def test_strategies_change_exactly_their_layers(pretrained, strategy):
    arch, path = pretrained
    model = transfer_model(path, n_classes=3, strategy=strategy, head_units=128)
    # The appended classifier: 128-unit dense + output for 3 classes.
    linears = [m for m in model.classifier.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(model.embedding_size, 128), (128, 3)]
    original = load_checkpoint(path).model.state_dict()
    before = _one_step(model)
    for k, v in before.items():  # the network is the pretrained one, not a fresh init
        if not k.startswith("classifier."):
            assert torch.equal(v, original[k]), k
    changed = _changed(model, before)
    classifier = {k for k in before if k.startswith("classifier.")}
    lower = {k for k in before if k.startswith("body.lower.")}
    upper = {k for k in before if k.startswith("body.upper.")}
    params = {k for k, _ in model.named_parameters()}
    if strategy == "frozen":
        assert changed == classifier
    elif strategy == "intermediate":
        assert classifier <= changed
        assert changed - classifier <= upper  # nothing before the green line moved
        assert not changed & lower
        assert upper & params <= changed  # every weight after the green line moved
    else:
        assert params <= changed  # every weight moved
        assert classifier <= changed


def test_frozen_parts_keep_batchnorm_statistics(tmp_path):
    path = tiny_checkpoint(tmp_path / "vgg.pt", arch="vgg")
    model = transfer_model(path, n_classes=3, strategy="frozen")
    before = _one_step(model)
    stats = {k for k in before if "running_" in k or "num_batches" in k}
    assert stats and not (_changed(model, before) & stats)


def test_input_shape_mismatch_is_refused(tiny_ckpt):
    from speechmusic.errors import SpeechMusicError

    with pytest.raises(SpeechMusicError, match="takes"):
        transfer_model(tiny_ckpt, n_classes=2, strategy="full", input_shape=(128, 10))
