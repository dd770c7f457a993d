"""Colour jitter of training clips: one draw per clip on every frame, in the pipeline's 0..255
pixel units, off = exactly the augmentation without it, refused for flow models."""

import kornia.augmentation as K
import pytest
import torch
from torch import nn

from raylab.config import (
    ColourJitter,
    ConfigError,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    ModelName,
)
from raylab.data.augment import TrainClipAugment, TrainImageAugment
from raylab.train.trainer import check_input_settings
from raylab.two_stream import run_two_stream

FULL = ColourJitter(brightness=0.4, contrast=0.4, saturation=0.4, hue=0.1)
BRIGHTNESS = ColourJitter(brightness=0.5)


def _raw(aug: nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """The augmented clips back in (B, T, C, H, W) 0..255 units (mean 0, scale 1 below)."""
    return aug(frames).permute(0, 2, 1, 3, 4)


def _clip_aug(jitter: ColourJitter, side: int) -> TrainClipAugment:
    """Crops the whole frame, never flips, leaves pixels in 0..255: only the jitter acts."""
    return TrainClipAugment(crop_px=side, flip_p=0.0, pixel_mean=0.0, pixel_scale=1.0,
                            jitter=jitter)


def test_every_frame_of_a_clip_gets_the_same_jitter_and_clips_get_different_ones():
    torch.manual_seed(0)
    frame = torch.randint(0, 256, (1, 1, 6, 6, 3), dtype=torch.uint8)
    clips = frame.expand(8, 4, 6, 6, 3).contiguous()  # 8 copies of a still 4-frame clip
    out = _raw(_clip_aug(FULL, 6), clips)
    assert torch.equal(out, out[:, :1].expand_as(out))  # frames of a clip stay identical
    assert not torch.allclose(out[0], out[1]) and not torch.allclose(out[0], out[2])
    assert not torch.allclose(out[0, 0], frame[0, 0].permute(2, 0, 1).float())


def test_brightness_scales_every_frame_by_one_factor_in_0_255_units():
    torch.manual_seed(1)
    clips = torch.randint(20, 160, (16, 3, 5, 5, 3), dtype=torch.uint8)
    clips[:, 1] = clips[:, 0] // 2  # frames differ; their differences must scale alike
    out = _raw(_clip_aug(BRIGHTNESS, 5), clips)
    raw = clips.permute(0, 1, 4, 2, 3).float()
    factor = out / raw  # (B, T, C, H, W): one value per clip, inside [0.5, 1.5]
    per_clip = factor.flatten(1)
    torch.testing.assert_close(per_clip, per_clip[:, :1].expand_as(per_clip))
    assert 0.5 <= float(per_clip.min()) and float(per_clip.max()) <= 1.5
    assert float(per_clip[:, 0].std()) > 0.1  # drawn per clip
    f = per_clip[:, 0].view(-1, 1, 1, 1)
    torch.testing.assert_close(out[:, 0] - out[:, 1], f * (raw[:, 0] - raw[:, 1]))
    # Saturation is at 255, the top of the pipeline's scale, not at kornia's 1.0.
    bright = torch.full((64, 1, 2, 2, 3), 250, dtype=torch.uint8)
    top = _raw(_clip_aug(BRIGHTNESS, 2), bright)
    assert float(top.max()) == pytest.approx(255.0) and float(top.min()) < 200


def test_off_is_bit_identical_to_crop_and_flip_alone():
    frames = torch.randint(0, 256, (6, 2, 12, 12, 3), dtype=torch.uint8)
    reference = K.VideoSequential(K.RandomCrop((8, 8)), K.RandomHorizontalFlip(p=0.5),
                                  data_format="BTCHW", same_on_frame=True)
    torch.manual_seed(3)
    expected = ((reference(frames.permute(0, 1, 4, 2, 3).float()) - 117) / 64).permute(
        0, 2, 1, 3, 4)
    for off in (ColourJitter(), ColourJitter(brightness=0.4, p=0.0)):
        aug = TrainClipAugment(crop_px=8, flip_p=0.5, pixel_mean=117, pixel_scale=64,
                               jitter=off)
        assert isinstance(aug.jitter, nn.Identity)
        torch.manual_seed(3)
        assert torch.equal(aug(frames), expected)


def test_image_jitter_acts_on_raw_pixels_before_the_mean_comes_off():
    torch.manual_seed(4)
    images = torch.randint(20, 160, (8, 1, 6, 6, 3), dtype=torch.uint8)
    aug = TrainImageAugment(crop_px=6, flip_p=0.0, mean=torch.full((1, 1, 1), 100.0),
                            pixel_scale=1.0, lighting=None, jitter=BRIGHTNESS)
    raw = images.permute(0, 1, 4, 2, 3).float()
    factor = (_raw(aug, images) + 100.0) / raw
    torch.testing.assert_close(factor.flatten(1), factor.flatten(1)[:, :1].expand(8, 108))
    off = TrainImageAugment(crop_px=6, flip_p=0.0, mean=torch.full((1, 1, 1), 100.0),
                            pixel_scale=1.0, lighting=None)
    assert torch.equal(_raw(off, images), raw - 100.0)


def test_colour_jitter_is_refused_for_flow_models_naming_the_field():
    flow = ExperimentConfig(model=ModelConfig(name=ModelName.CNN_M_2048_TEMPORAL))
    check_input_settings(flow)  # jitter off: fine
    jittered = ExperimentConfig(model=flow.model, data=DataConfig(colour_jitter=FULL))
    with pytest.raises(ConfigError) as err:
        check_input_settings(jittered)
    assert str(err.value).startswith("data.colour_jitter: expected off") and (
        "model.name=cnn_m_2048_temporal" in str(err.value))
    check_input_settings(ExperimentConfig(data=jittered.data))  # RGB model: fine
    # The two-stream protocol refuses it before training either stream.
    with pytest.raises(ConfigError, match="data.colour_jitter"):
        run_two_stream(ExperimentConfig(data=jittered.data))

