"""GoogLeNet-style random-resized crops (data.crop_min_area): one patch per clip on every frame,
patches of varying area resized to the crop, off = the fixed-size random crop, refused for flow."""

import kornia.augmentation as K
import pytest
import torch

from raylab.config import ConfigError, DataConfig, ExperimentConfig, ModelConfig, ModelName
from raylab.data.augment import TrainClipAugment
from raylab.train.trainer import check_input_settings


def _columns(clips: int, frames: int, side: int) -> torch.Tensor:
    """uint8 (B, T, side, side, 3) whose value is the column index plus the frame number."""
    cols = torch.arange(side).view(1, 1, 1, side, 1).expand(clips, frames, side, side, 3)
    return (cols + torch.arange(frames).view(1, frames, 1, 1, 1)).to(torch.uint8)


def test_one_resized_patch_per_clip_on_every_frame():
    torch.manual_seed(0)
    aug = TrainClipAugment(crop_px=32, flip_p=0.0, pixel_mean=0.0, pixel_scale=1.0,
                           crop_min_area=0.08)
    out = aug(_columns(16, 3, 96))  # (B, 3, T, 32, 32)
    # Bilinear resizing is linear: frame t of a clip is frame 0 + t if every frame got one patch.
    steps = out - out[:, :, :1]
    assert torch.allclose(steps, torch.arange(3.).view(1, 1, 3, 1, 1).expand_as(steps), atol=1e-3)
    # The column span a crop shows is its patch width - 1: it varies from clip to clip, which a
    # fixed 32 px crop (span 31 always) would not.
    spans = (out[:, 0, 0].amax(dim=(1, 2)) - out[:, 0, 0].amin(dim=(1, 2))).tolist()
    assert max(spans) - min(spans) > 20 and max(spans) <= 95


def test_without_a_minimum_area_the_crop_is_the_plain_random_crop():
    frames = _columns(4, 2, 40)
    torch.manual_seed(1)
    ours = TrainClipAugment(crop_px=32, flip_p=0.5, pixel_mean=0.0, pixel_scale=1.0)(frames)
    torch.manual_seed(1)
    plain = K.VideoSequential(K.RandomCrop((32, 32)), K.RandomHorizontalFlip(p=0.5),
                              data_format="BTCHW", same_on_frame=True)
    expected = plain(frames.permute(0, 1, 4, 2, 3).float()).permute(0, 2, 1, 3, 4)
    assert torch.equal(ours, expected)


def test_crop_min_area_is_checked_and_refused_for_flow_models():
    with pytest.raises(ConfigError, match=r"data.crop_min_area: expected an area fraction"):
        DataConfig(crop_min_area=1.5)
    cfg = ExperimentConfig(data=DataConfig(crop_min_area=0.08),
                           model=ModelConfig(name=ModelName.CNN_M_2048_TEMPORAL))
    with pytest.raises(ConfigError, match=r"data.crop_min_area: expected 0 .*cnn_m_2048_temporal"):
        check_input_settings(cfg)
