"""The fovea and context views of Karpathy et al. 2014's multiresolution net (PAPERS.md 3.4).

(B, 3, 1, S, S) crops, as the augment modules return them (cropped, flipped, normalised), become
(B, 6, 1, S//2, S//2) inputs: channels 0-2 the fovea, the centre S//2 square at full resolution;
3-5 the context, the whole crop area-averaged to half size (MultiresView order). The paper's
178 px crop gives two 89 px views. Cut after the flip, both views see the same mirror; averaging
is linear, so cutting after the mean removal equals cutting before it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from raylab.config import MultiresView


def fovea_view(clips: torch.Tensor) -> torch.Tensor:
    """The centre (H//2, W//2) region of (..., H, W) frames at full resolution."""
    h, w = clips.shape[-2:]
    top, left = (h - h // 2) // 2, (w - w // 2) // 2
    return clips[..., top:top + h // 2, left:left + w // 2]


def context_view(clips: torch.Tensor) -> torch.Tensor:
    """The whole of every frame of (B, C, T, H, W) clips at half resolution, (H//2, W//2).

    The paper says only "downsampled by 2"; a 2x2 average (area, box filter) is our choice [U].
    """
    return F.avg_pool3d(clips, kernel_size=(1, 2, 2))


VIEWS = {MultiresView.FOVEA: fovea_view, MultiresView.CONTEXT: context_view}


class FoveaContextViews(nn.Module):
    """(B, 3, T, S, S) -> (B, 3 * len(MultiresView), T, S//2, S//2), views in MultiresView order;
    appended to a training augmentation or an evaluation view when the model is multires."""

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return torch.cat([VIEWS[view](clips) for view in MultiresView], dim=1)
