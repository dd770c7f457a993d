"""Shape, error-message and overfit tests for the Karpathy et al. fusion nets in `fusion.py`.

Every `MODELS` entry's parameter count is pinned by test_zoo.py (param_counts.json).
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn

from raylab.config import ModelConfig, ModelName
from raylab.models.build import MODELS, ClipShape, build_model, clip_shape
from raylab.models.fusion import FusionNet, single_frame, slow_fusion
from raylab.models.layers import LRN_ALPHA, LRN_SIZE, local_response_norm

# The nets built by `FusionNet` on RGB clips with the paper's widths (the other models: test_zoo).
FUSION_MODELS = (ModelName.SINGLE_FRAME, ModelName.SLOW_FUSION, ModelName.EARLY_FUSION,
                 ModelName.LATE_FUSION)
FEATURE_KEYS = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7"]


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _clip(name: ModelName, *, batch: int, crop_px: int) -> Tensor:
    return torch.randn(batch, 3, clip_shape(name).num_frames, crop_px, crop_px)


def test_every_model_name_has_an_entry() -> None:
    assert set(MODELS) == set(ModelName)


@pytest.mark.parametrize("name", FUSION_MODELS)
@pytest.mark.parametrize(("crop_px", "width_mult"), [(40, 0.125), (64, 0.25), (101, 0.5)])
def test_output_shape(name: ModelName, crop_px: int, width_mult: float) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, width_mult=width_mult), num_classes=7,
                        crop_px=crop_px)
    assert model(_clip(name, batch=2, crop_px=crop_px)).shape == (2, 7)


@pytest.mark.parametrize("name", FUSION_MODELS)
def test_features_keys_and_widths(name: ModelName) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, width_mult=0.125, dropout=0.0), num_classes=5,
                        crop_px=48)
    model.eval()
    x = _clip(name, batch=3, crop_px=48)
    feats = model.features(x)
    assert list(feats) == FEATURE_KEYS
    # width_mult=0.125 scales 96-256-384-384-256 / 4096 to 12-32-48-48-32 / 512.
    assert [feats[k].shape[1] for k in FEATURE_KEYS] == [12, 32, 48, 48, 32, 512, 512]
    assert all(f.shape[0] == 3 for f in feats.values())
    torch.testing.assert_close(model(x), model.classifier(feats["fc7"]))


def test_slow_fusion_time_extents() -> None:
    """Time 10 -> 4 -> 2 -> 1 over conv1..conv3, as in the paper's slow fusion."""
    torch.manual_seed(0)
    feats = slow_fusion(num_classes=2, crop_px=48, width_mult=0.125).features(
        torch.randn(1, 3, 10, 48, 48))
    assert [feats[k].shape[2] for k in ("conv1", "conv2", "conv3")] == [4, 2, 1]
    assert feats["conv4"].dim() == 4


def test_single_frame_at_paper_crop_ends_at_7x7() -> None:
    torch.manual_seed(0)
    model = single_frame(num_classes=3, crop_px=170, width_mult=0.125)
    assert model.features(torch.randn(1, 3, 1, 170, 170))["conv5"].shape[-2:] == (7, 7)


@pytest.mark.parametrize(("name", "frames", "message"), [
    (ModelName.SLOW_FUSION, 4, "slow_fusion: expected 10 frames per clip, got 4"),
    (ModelName.SINGLE_FRAME, 10, "single_frame: expected 1 frames per clip, got 10"),
])
def test_wrong_frame_count_raises(name: ModelName, frames: int, message: str) -> None:
    model = build_model(ModelConfig(name=name, width_mult=0.125), num_classes=2, crop_px=40)
    with pytest.raises(ValueError) as info:
        model(torch.zeros(1, 3, frames, 40, 40))
    assert str(info.value) == message


def test_wrong_rank_raises() -> None:
    model = single_frame(num_classes=2, crop_px=40, width_mult=0.125)
    with pytest.raises(ValueError, match=r"expected a \(B, 3, T, H, W\) clip tensor"):
        model(torch.zeros(1, 3, 40, 40))


def test_too_small_crop_raises() -> None:
    with pytest.raises(ValueError, match="crop_px must be >= 11"):
        slow_fusion(num_classes=2, crop_px=8)


def test_single_frame_param_count_by_hand() -> None:
    """The paper's base net at 170 px: conv weights + biases, pool5 = 256x7x7, two FC(4096)."""
    convs = [(3, 96, 11), (96, 256, 5), (256, 384, 3), (384, 384, 3), (384, 256, 3)]
    expected = sum(i * o * k * k + o for i, o, k in convs)
    expected += (256 * 7 * 7 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 487 + 487)
    assert _count(single_frame(num_classes=487, crop_px=170)) == expected == 73_908_071


def test_lrn_uses_paper_formula() -> None:
    """b = a / (k + alpha * sum of n squares) ** beta, with alpha not divided by n."""
    x = torch.zeros(1, 5, 1, 1)
    x[0, 2] = 10.0
    out = local_response_norm()(x)
    assert LRN_SIZE == 5
    torch.testing.assert_close(out[0, 2, 0, 0], torch.tensor(10.0 / (2.0 + LRN_ALPHA * 100) ** 0.5))


def test_init_std_sets_normal_weights_and_zero_biases() -> None:
    torch.manual_seed(0)
    model = slow_fusion(num_classes=2, crop_px=48, width_mult=0.25, init_std=0.01)
    layers = [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear))]
    assert len(layers) == 8
    for layer in layers:
        assert torch.count_nonzero(layer.bias) == 0
    assert abs(model.fc6[0].weight.std().item() - 0.01) < 1e-3


def test_build_model_passes_config() -> None:
    model = build_model(ModelConfig(name=ModelName.SLOW_FUSION, width_mult=0.125, dropout=0.3),
                        num_classes=4, crop_px=40)
    assert isinstance(model, FusionNet)
    assert model.dropout.p == 0.3
    assert model.num_frames == clip_shape(ModelName.SLOW_FUSION).num_frames
    assert clip_shape(ModelName.SLOW_FUSION) == ClipShape(num_frames=10, frame_step=1)
    assert clip_shape(ModelName.SINGLE_FRAME) == ClipShape(num_frames=1, frame_step=1)


# --- overfit: slow fusion must see motion, single-frame must not ---------------------------------


def _moving_square_clips(*, num_pairs: int, seed: int) -> tuple[Tensor, Tensor]:
    """Pairs of 10-frame 48 px clips: one square moving left (label 0), the same moving right (1).

    Both clips of a pair share the noise and the square's start, so frame 0 is identical and only
    motion tells the labels apart. Values are on the scale the pipeline feeds with
    pixel_scale=64 (about unit variance), the scale He init is made for.
    """
    g = torch.Generator().manual_seed(seed)
    frames, size, side, step_px = 10, 48, 8, 3
    clips = torch.empty(2 * num_pairs, 3, frames, size, size)
    for i in range(num_pairs):
        noise = 0.3 * torch.randn(frames, size, size, generator=g)
        y, x = (int(v) for v in torch.randint(0, size - side, (2,), generator=g))
        square = torch.zeros(size, size)
        square[y:y + side, x:x + side] = 1.5
        for label, direction in ((0, -1), (1, 1)):
            # roll wraps the square around the border, so any start position works.
            moving = torch.stack([square.roll(direction * step_px * t, dims=1)
                                  for t in range(frames)])
            clips[2 * i + label] = (moving + noise).unsqueeze(0)
    return clips, torch.tensor([0, 1] * num_pairs)


def _train_until_fit(model: FusionNet, clips: Tensor, labels: Tensor, *, max_steps: int) -> int:
    """SGD on batches of 16 until every training clip is right; returns the steps taken.

    We stop at the first perfect check: the claim under test is "it can fit", and without weight
    decay a run that has fit can later be knocked out by one large step.
    """
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    for step in range(max_steps):
        if step % 10 == 0 and _accuracy(model, clips, labels) == 1.0:
            return step
        model.train()
        idx = torch.randint(0, len(labels), (16,), generator=g)
        loss = nn.functional.cross_entropy(model(clips[idx, :, :model.num_frames]), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return max_steps


@torch.no_grad()
def _accuracy(model: FusionNet, clips: Tensor, labels: Tensor) -> float:
    model.eval()
    return (model(clips[:, :, :model.num_frames]).argmax(1) == labels).float().mean().item()


def test_slow_fusion_learns_motion_single_frame_cannot() -> None:
    train_clips, train_labels = _moving_square_clips(num_pairs=64, seed=0)
    test_clips, test_labels = _moving_square_clips(num_pairs=50, seed=1)

    torch.manual_seed(0)
    slow = slow_fusion(num_classes=2, crop_px=48, width_mult=0.125, dropout=0.0)
    assert _train_until_fit(slow, train_clips, train_labels, max_steps=150) < 150
    assert _accuracy(slow, train_clips, train_labels) == 1.0
    assert _accuracy(slow, test_clips, test_labels) >= 0.8  # it learned motion, not the noise

    torch.manual_seed(0)
    single = single_frame(num_classes=2, crop_px=48, width_mult=0.125, dropout=0.0)
    _train_until_fit(single, train_clips, train_labels, max_steps=150)
    # Frame 0 is identical within each pair, so exactly one clip of every pair is right.
    assert _accuracy(single, train_clips, train_labels) == 0.5
