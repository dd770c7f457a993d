"""The flow augmentation rules: one crop per stack, flip negates x, no jitter, ten views."""

import torch

from raylab.data.flow_augment import (
    TEN_CROP_VIEWS,
    CentreFlowView,
    TrainFlowAugment,
    mirror,
    mirror_flow,
    ten_crop,
)


def _stacks(b=4, channels=6, h=10, w=12) -> torch.Tensor:
    """Channel c of sample i holds 10000 * c + 1000 * i + pixel number: every value unique
    (and exact in float32)."""
    pix = torch.arange(h * w, dtype=torch.float32).reshape(h, w)
    ch = torch.arange(channels, dtype=torch.float32)[:, None, None] * 10000
    return ch[None] + 1000 * torch.arange(b, dtype=torch.float32)[:, None, None, None] + pix


def test_one_crop_for_every_channel_of_a_stack():
    stacks = _stacks()
    out = TrainFlowAugment(crop_px=5, flip_p=0.0,
                           generator=torch.Generator().manual_seed(0))(stacks)
    assert out.shape == (4, 6, 1, 5, 5)
    pixels = out[:, :, 0] - 10000 * torch.arange(6.0)[None, :, None, None]
    assert torch.equal(pixels, pixels[:, :1].expand_as(pixels))  # same window, all channels
    # and that window is a contiguous block of the input (a crop, no resampling)
    for i in range(4):
        first = int(pixels[i, 0, 0, 0]) - 1000 * i
        top, left = divmod(first, 12)
        assert torch.equal(out[i, :, 0], stacks[i, :, top:top + 5, left:left + 5])


def test_crops_differ_between_samples():
    stacks = torch.zeros(64, 2, 20, 20)
    stacks[:, :, 10, 10] = 1.0  # a marker whose position in the crop shows the window
    out = TrainFlowAugment(crop_px=8, flip_p=0.0,
                           generator=torch.Generator().manual_seed(1))(stacks)
    positions = {tuple(torch.nonzero(o[0, 0]).flatten().tolist()) for o in out}
    assert len(positions) > 10


def test_flip_mirrors_and_negates_every_x_channel_only():
    stacks = torch.zeros(2, 4, 6, 6)
    stacks[:, 0::2] = 2.0  # x: moving right
    stacks[:, 1::2] = -3.0  # y: moving up
    stacks[:, :, :, 0] += 10.0  # left column marked
    out = TrainFlowAugment(crop_px=6, flip_p=1.0)(stacks)[:, :, 0]
    assert torch.allclose(out[:, 0::2, :, :5], torch.tensor(-2.0))  # now moving left
    assert torch.allclose(out[:, 1::2, :, :5], torch.tensor(-3.0))  # vertical unchanged
    assert torch.allclose(out[:, 0::2, :, 5], torch.tensor(-12.0))  # mark now on the right
    assert torch.allclose(out[:, 1::2, :, 5], torch.tensor(7.0))


def test_no_colour_jitter_values_are_only_moved_or_negated():
    stacks = _stacks()
    out = TrainFlowAugment(crop_px=7, flip_p=0.5,
                           generator=torch.Generator().manual_seed(2))(stacks)[:, :, 0]
    inputs = set(stacks.flatten().tolist())
    for c in range(6):
        values = out[:, c].flatten().tolist()
        sign = -1 if c % 2 == 0 else 1
        assert all(v in inputs or sign * v in inputs for v in values)


def test_centre_view_and_mirror_helpers():
    stacks = _stacks(b=1, h=9, w=9)
    centre = CentreFlowView(crop_px=5)(stacks)
    assert torch.equal(centre[:, :, 0], stacks[..., 2:7, 2:7])
    assert torch.equal(mirror(mirror(stacks)), stacks)
    assert torch.equal(mirror_flow(mirror_flow(stacks)), stacks)


def test_ten_crop_gives_corners_centre_and_their_flow_aware_mirrors():
    stacks = _stacks(b=2, channels=4, h=9, w=11)
    views = ten_crop(stacks, 5, mirror_flow)
    assert views.shape == (2, 10, 4, 5, 5) and len(TEN_CROP_VIEWS) == 10
    index = {v: i for i, v in enumerate(TEN_CROP_VIEWS)}
    assert torch.equal(views[:, index[("top_left", False)]], stacks[..., :5, :5])
    assert torch.equal(views[:, index[("bottom_right", False)]], stacks[..., 4:, 6:])
    assert torch.equal(views[:, index[("centre", False)]], stacks[..., 2:7, 3:8])
    flipped = views[:, index[("top_right", True)]]
    assert torch.equal(flipped, mirror_flow(stacks[..., :5, 6:]))
    assert torch.all(flipped[:, 0] < 0) and torch.all(flipped[:, 1] > 0)
    rgb = ten_crop(stacks, 5, mirror)
    assert torch.all(rgb >= 0)  # RGB views are only mirrored, never negated
