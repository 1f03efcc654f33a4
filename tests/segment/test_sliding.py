"""The fast path's own pooling against PyTorch's max_pool2d (exact equality)."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from speechmusic.segment.sliding import _sliding_max, _window_max


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
def test_window_max_equals_max_pool2d_with_padding_and_ceil_mode(layout):
    torch.manual_seed(0)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    for rows, cols, k_rows, k_cols, first in itertools.product(
            [7, 8, 9, 33], [4, 5, 18], [1, 2, 4, 12], [1, 2], [0, -1, -2, 3]):
        if -first > k_rows // 2:
            continue  # max_pool2d allows padding of at most half the kernel
        x = torch.randn(1, 3, rows, cols).contiguous(memory_format=fmt)
        got = _window_max(_window_max(x, dim=-2, k=k_rows, first=first), dim=-1, k=k_cols, first=0)
        if first >= 0:
            ref = F.max_pool2d(x[..., first:, :], (k_rows, k_cols), (k_rows, k_cols), ceil_mode=True)
        else:
            ref = F.max_pool2d(x, (k_rows, k_cols), (k_rows, k_cols), padding=(-first, 0), ceil_mode=True)
        assert got.shape == ref.shape and torch.equal(got, ref), (rows, cols, k_rows, k_cols, first)


def test_sliding_max_equals_unfolded_max():
    torch.manual_seed(1)
    x = torch.randn(2, 5, 40)
    for width in (1, 2, 3, 12, 17, 40):
        ref = x.unfold(-1, width, 1).amax(dim=-1)
        assert torch.equal(_sliding_max(x, width), ref), width
