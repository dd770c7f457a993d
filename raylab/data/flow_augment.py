"""Flow-stack augmentation and test views on the train worker's device (plain torch).

The rules for optical flow (PAPERS.md 4.2, 4.4; ECOSYSTEM.md 5):
- one crop for the whole stack: every one of the 2L channels is cut at the same place;
- a horizontal flip mirrors every field and negates its x component (channels 0, 2, 4, ...):
  a point moving right moves left in the mirror image, its vertical motion is unchanged;
- no colour jitter: the values are displacements in px, not intensities;
- resizing scales the vectors: done where stacks are built (`flow_stack.fit_field`), so every
  stack reaching the worker already has the run's size in pixels and units.
Input: float stacks (B, 2L, H, W) from the pipeline; output (B, 2L, 1, crop, crop), the
(B, C, T, H, W) layout of the raylab models with T = 1. `ten_crop` also serves RGB frames.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

# The paper's 10 test views (PAPERS.md 4.5): 4 corners + centre, each also mirrored. A view's
# index is its position here; scores carry it.
TEN_CROP_VIEWS: tuple[tuple[str, bool], ...] = tuple(
    (corner, flipped) for flipped in (False, True)
    for corner in ("top_left", "top_right", "bottom_left", "bottom_right", "centre"))


def mirror(x: torch.Tensor) -> torch.Tensor:
    """Horizontal mirror of images (..., H, W): right becomes left."""
    return x.flip(-1)


def mirror_flow(stacks: torch.Tensor) -> torch.Tensor:
    """Horizontal mirror of flow stacks (..., 2L, H, W): mirror, then negate every x channel."""
    out = stacks.flip(-1).clone()
    out[..., 0::2, :, :] *= -1
    return out


def crop_stacks(stacks: torch.Tensor, tops: torch.Tensor, lefts: torch.Tensor,
                size: int) -> torch.Tensor:
    """Per-sample crops of (B, C, H, W) at (tops[b], lefts[b]), the same for every channel."""
    b, c = stacks.shape[:2]
    rows = (tops[:, None] + torch.arange(size, device=stacks.device))[:, None, :, None]
    cols = (lefts[:, None] + torch.arange(size, device=stacks.device))[:, None, None, :]
    batch = torch.arange(b, device=stacks.device)[:, None, None, None]
    chan = torch.arange(c, device=stacks.device)[None, :, None, None]
    return stacks[batch, chan, rows, cols]


class TrainFlowAugment(nn.Module):
    """A random crop_px crop and, with probability flip_p, a flow-aware mirror per stack."""

    def __init__(self, *, crop_px: int, flip_p: float, generator: torch.Generator | None = None
                 ) -> None:
        super().__init__()
        self.crop_px = crop_px
        self.flip_p = flip_p
        self.generator = generator

    def forward(self, stacks: torch.Tensor) -> torch.Tensor:
        stacks = stacks.float()
        b, _, h, w = stacks.shape
        if h < self.crop_px or w < self.crop_px:
            raise ValueError(f"flow stacks are {h}x{w} px, smaller than the {self.crop_px} px crop")
        draw = torch.rand(b, 3, generator=self.generator).to(stacks.device)
        tops = (draw[:, 0] * (h - self.crop_px + 1)).long().clamp(max=h - self.crop_px)
        lefts = (draw[:, 1] * (w - self.crop_px + 1)).long().clamp(max=w - self.crop_px)
        crops = crop_stacks(stacks, tops, lefts, self.crop_px)
        flip = (draw[:, 2] < self.flip_p)[:, None, None, None]
        return torch.where(flip, mirror_flow(crops), crops).unsqueeze(2)


class CentreFlowView(nn.Module):
    """The centre crop_px x crop_px of every stack (per-epoch validation's single view)."""

    def __init__(self, *, crop_px: int) -> None:
        super().__init__()
        self.crop_px = crop_px

    def forward(self, stacks: torch.Tensor) -> torch.Tensor:
        h, w = stacks.shape[-2:]
        top, left = (h - self.crop_px) // 2, (w - self.crop_px) // 2
        crop = stacks[..., top:top + self.crop_px, left:left + self.crop_px]
        return crop.float().unsqueeze(2)


def ten_crop(x: torch.Tensor, crop_px: int,
             flip: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """(B, C, H, W) -> (B, 10, C, crop, crop) in TEN_CROP_VIEWS order; `flip` is `mirror` for
    RGB and `mirror_flow` for flow stacks."""
    h, w = x.shape[-2:]
    if h < crop_px or w < crop_px:
        raise ValueError(f"inputs are {h}x{w} px, smaller than the {crop_px} px crop")
    corner = {"top_left": (0, 0), "top_right": (0, w - crop_px),
              "bottom_left": (h - crop_px, 0), "bottom_right": (h - crop_px, w - crop_px),
              "centre": ((h - crop_px) // 2, (w - crop_px) // 2)}
    views = []
    for name, flipped in TEN_CROP_VIEWS:
        top, left = corner[name]
        view = x[..., top:top + crop_px, left:left + crop_px]
        views.append(flip(view) if flipped else view)
    return torch.stack(views, dim=1)
