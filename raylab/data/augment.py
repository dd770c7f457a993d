"""Clip augmentation with kornia on the train worker's device (CPU or GPU).

Input: uint8 clips (B, T, H, W, 3) straight from the pipeline. Output: float (B, 3, T, crop, crop),
mean-removed and scaled. Training draws one random crop and one flip per clip and applies them to
every frame of it (Karpathy et al. 2014 sec. 3: identical across a clip); evaluation takes the
centre crop. Choose the module before the loop; the loop just calls it.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn


class _Normalise(nn.Module):
    def __init__(self, pixel_mean: float, pixel_scale: float) -> None:
        super().__init__()
        self.pixel_mean = pixel_mean
        self.pixel_scale = pixel_scale

    def to_float(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 (B, T, H, W, C) -> float (B, T, C, H, W) in 0..255 (kornia's BTCHW)."""
        return frames.permute(0, 1, 4, 2, 3).float()

    def finish(self, clips: torch.Tensor) -> torch.Tensor:
        """float (B, T, C, H, W) -> normalised (B, C, T, H, W) for the models."""
        return ((clips - self.pixel_mean) / self.pixel_scale).permute(0, 2, 1, 3, 4).contiguous()


class TrainClipAugment(_Normalise):
    """Random crop + horizontal flip (probability flip_p), the same for every frame of a clip."""

    def __init__(self, *, crop_px: int, flip_p: float, pixel_mean: float,
                 pixel_scale: float) -> None:
        super().__init__(pixel_mean, pixel_scale)
        self.video = K.VideoSequential(
            K.RandomCrop((crop_px, crop_px)),
            K.RandomHorizontalFlip(p=flip_p),
            data_format="BTCHW",
            same_on_frame=True,
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.finish(self.video(self.to_float(frames)))


class CentreClipView(_Normalise):
    """The centre crop_px x crop_px of every frame (evaluation's single view)."""

    def __init__(self, *, crop_px: int, pixel_mean: float, pixel_scale: float) -> None:
        super().__init__(pixel_mean, pixel_scale)
        self.crop_px = crop_px

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        h, w = frames.shape[2], frames.shape[3]
        top, left = (h - self.crop_px) // 2, (w - self.crop_px) // 2
        crop = frames[:, :, top : top + self.crop_px, left : left + self.crop_px]
        return self.finish(self.to_float(crop))
