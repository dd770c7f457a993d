"""Clip augmentation with kornia on the train worker's device (CPU or GPU).

Input: uint8 clips (B, T, H, W, 3) straight from the pipeline. Output: float (B, 3, T, crop, crop),
mean-removed and scaled. Training draws one random crop and one flip per clip and applies them to
every frame of it (Karpathy et al. 2014 sec. 3: identical across a clip); evaluation takes the
centre crop. Choose the module before the loop; the loop just calls it.
Image datasets use TrainImageAugment (training-set mean, PCA lighting) and TenCropView. Both
training modules can add colour jitter (data.colour_jitter), one draw per clip.
"""

from __future__ import annotations

from collections.abc import Sequence

import kornia.augmentation as K
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from raylab.config import ColourJitter, MeanRemoval


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


class ColourJitterClip(nn.Module):
    """kornia's ColorJitter (torchvision's semantics) on float (B, T, C, H, W) frames in 0..255,
    one draw per clip (same_on_frame): every frame of a clip gets the same factors."""

    def __init__(self, cfg: ColourJitter) -> None:
        super().__init__()
        self.video = K.VideoSequential(
            K.ColorJitter(cfg.brightness, cfg.contrast, cfg.saturation, cfg.hue, p=cfg.p),
            data_format="BTCHW",
            same_on_frame=True,
        )

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        # kornia's colour ops take [0, 1] and clip their results there; the pipeline is 0..255.
        return self.video(clips / 255.0) * 255.0


def colour_jitter(cfg: ColourJitter) -> nn.Module:
    """The jitter cfg asks for, or the identity when it is off: no kornia call and no random
    draw, so runs without jitter compute exactly what they did before it existed.

    Both training modules jitter the whole frame before the crop (the image mean must come off
    raw pixels before cropping), so contrast blends towards the frame's mean grey."""
    return ColourJitterClip(cfg) if cfg.enabled else nn.Identity()


# GoogLeNet's patch aspect ratios (Szegedy et al. 2015 sec. 6).
RESIZED_CROP_RATIO = (3 / 4, 4 / 3)


def random_crop(crop_px: int, min_area: float) -> nn.Module:
    """A fixed-size random crop (min_area 0), or a random-resized crop of [min_area, 1] of the
    frame's area and aspect in RESIZED_CROP_RATIO, resized to crop_px (data.crop_min_area)."""
    if not min_area:
        return K.RandomCrop((crop_px, crop_px))
    return K.RandomResizedCrop((crop_px, crop_px), scale=(min_area, 1.0),
                               ratio=RESIZED_CROP_RATIO)


class TrainClipAugment(_Normalise):
    """Colour jitter (off unless `jitter` says), random crop (random-resized when
    crop_min_area > 0) and horizontal flip (probability flip_p), all the same for every frame of
    a clip."""

    def __init__(self, *, crop_px: int, flip_p: float, pixel_mean: float, pixel_scale: float,
                 jitter: ColourJitter = ColourJitter(), crop_min_area: float = 0.0) -> None:
        super().__init__(pixel_mean, pixel_scale)
        self.jitter = colour_jitter(jitter)
        self.video = K.VideoSequential(
            random_crop(crop_px, crop_min_area),
            K.RandomHorizontalFlip(p=flip_p),
            data_format="BTCHW",
            same_on_frame=True,
        )

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.finish(self.video(self.jitter(self.to_float(frames))))


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


# --- images (Krizhevsky et al. 2012): mean image or colour, PCA lighting, 10-view testing ---


def pixel_mean_tensor(removal: MeanRemoval, *, pixel_mean: float, stats: dict | None,
                      resize_px: int) -> torch.Tensor:
    """What `removal` subtracts, shaped to broadcast over (C, H, W) frames of resize_px.

    A mean image computed at another resize is resampled (bilinear) to resize_px: the mean of
    resized images and the resized mean differ only by the resampling of each image."""
    if removal == MeanRemoval.CONSTANT:
        return torch.full((1, 1, 1), float(pixel_mean))
    if removal == MeanRemoval.RGB:
        return torch.tensor(stats["mean_rgb"], dtype=torch.float32).view(3, 1, 1)
    mean = torch.tensor(np.asarray(stats["mean_image"]), dtype=torch.float32).permute(2, 0, 1)
    if mean.shape[1:] != (resize_px, resize_px):
        mean = F.interpolate(mean[None], size=(resize_px, resize_px), mode="bilinear",
                             align_corners=False)[0]
    return mean


class PcaLighting(nn.Module):
    """Krizhevsky et al. 2012 sec. 4.1: add sum_i alpha_i * lambda_i * p_i to every pixel of an
    image (and every frame of a clip), alpha_i ~ N(0, std^2) drawn per image per presentation.

    The paper's lambda is a variance in its pixel units; as in the commonly used constants
    (PAPERS.md 1.3), the eigenbasis is taken on pixels scaled to [0, 1], so with 0-255 values
    and 0-255 squared eigenvalues the offset is P (alpha * lambda) / 255."""

    def __init__(self, *, std: float, eigval: Sequence[float],
                 eigvec: Sequence[Sequence[float]]) -> None:
        super().__init__()
        self.std = std
        self.register_buffer("eigval", torch.tensor(eigval, dtype=torch.float32))
        self.register_buffer("eigvec", torch.tensor(eigvec, dtype=torch.float32))  # rows: p_i

    def offsets(self, alpha: torch.Tensor) -> torch.Tensor:
        """(B, 3) coefficients -> (B, 3) RGB offsets in 0-255 units."""
        return (alpha * self.eigval / 255.0) @ self.eigvec

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """float (B, T, C, H, W) -> the same with one random colour offset per clip."""
        alpha = torch.randn(clips.shape[0], 3, device=clips.device) * self.std
        return clips + self.offsets(alpha)[:, None, :, None, None]


class TrainImageAugment(_Normalise):
    """Colour jitter (off unless `jitter` says), mean removal (before cropping: the mean image is
    aligned with the full frame), random crop (random-resized when crop_min_area > 0),
    horizontal flip, PCA lighting, then pixel_scale; the same for every frame."""

    def __init__(self, *, crop_px: int, flip_p: float, mean: torch.Tensor, pixel_scale: float,
                 lighting: PcaLighting | None, jitter: ColourJitter = ColourJitter(),
                 crop_min_area: float = 0.0) -> None:
        super().__init__(0.0, pixel_scale)
        self.register_buffer("mean", mean)
        self.jitter = colour_jitter(jitter)
        self.video = K.VideoSequential(
            random_crop(crop_px, crop_min_area),
            K.RandomHorizontalFlip(p=flip_p),
            data_format="BTCHW",
            same_on_frame=True,
        )
        self.lighting = lighting if lighting is not None else nn.Identity()

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        frames = self.jitter(self.to_float(frames))
        return self.finish(self.lighting(self.video(frames - self.mean)))


# Krizhevsky et al. 2012 sec. 4.1 test views: four corners and the centre, then their mirrors.
TEN_CROP_CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right", "centre")
VIEWS_PER_IMAGE = 2 * len(TEN_CROP_CORNERS)


def ten_crop_boxes(size_px: int, crop_px: int) -> list[tuple[int, int]]:
    """(top, left) of each corner crop in TEN_CROP_CORNERS order."""
    far = size_px - crop_px
    centre = far // 2
    return [(0, 0), (0, far), (far, 0), (far, far), (centre, centre)]


class TenCropView(_Normalise):
    """(B, T, H, W, 3) uint8 -> (B * 10, 3, T, crop, crop): each clip's views consecutively,
    view v = corner v % 5 (TEN_CROP_CORNERS), mirrored when v >= 5. Mean removal as in
    TrainImageAugment. The loop repeats each clip's id for its views, so scores are averaged
    per image by id."""

    views_per_clip = VIEWS_PER_IMAGE

    def __init__(self, *, crop_px: int, mean: torch.Tensor, pixel_scale: float) -> None:
        super().__init__(0.0, pixel_scale)
        self.crop_px = crop_px
        self.register_buffer("mean", mean)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.to_float(frames) - self.mean  # (B, T, C, H, W)
        c = self.crop_px
        crops = [x[..., top : top + c, left : left + c]
                 for top, left in ten_crop_boxes(x.shape[-1], c)]
        views = torch.stack(crops + [v.flip(-1) for v in crops], dim=1)  # (B, 10, T, C, c, c)
        return self.finish(views.flatten(0, 1))
