"""Karpathy et al. (CVPR 2014) multiresolution nets: fovea and context streams (PAPERS.md 3.4).

Input is an image clip (B, 3, 1, H, W); frame 0 is used. The fovea stream sees the centre
(H//2 x W//2) region at full resolution, the context stream the whole crop downsampled by 2;
each is the single-frame conv stack without its last pool, and they meet at fc6. The paper's
178 px frames vs 170 px crops mismatch is left to the data config (any crop >= 22 builds).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from raylab.models.fusion import MIN_CROP_PX, karpathy_convs, karpathy_widths
from raylab.models.layers import check_clip, init_he_, init_normal_, linear_relu

STREAMS = ("fovea", "context")


def fovea_view(frame: Tensor) -> Tensor:
    """The centre (H//2, W//2) region of (B, C, H, W) at full resolution."""
    h, w = frame.shape[-2:]
    top, left = (h - h // 2) // 2, (w - w // 2) // 2
    return frame[..., top:top + h // 2, left:left + w // 2]


def context_view(frame: Tensor) -> Tensor:
    """The whole (B, C, H, W) frame at half resolution, (H//2, W//2).

    The paper says only "downsampled by 2"; a 2x2 average (box filter) is our choice [U].
    """
    return F.avg_pool2d(frame, kernel_size=2, stride=2)


VIEWS = {"fovea": fovea_view, "context": context_view}


class MultiresNet(nn.Module):
    """One conv stack per stream in `streams` (separate weights [U: not stated in the paper]),
    their flattened conv5 maps concatenated, then FC-ReLU-dropout twice and a classifier.

    `features(x)` returns "<stream>_conv1".."<stream>_conv5", fc6 and fc7 (before dropout).
    Init is He, or N(0, init_std) with zero biases when `init_std` is set (as `FusionNet`).
    """

    def __init__(
        self,
        *,
        name: str,
        streams: tuple[str, ...],
        width_mult: float,
        num_classes: int,
        crop_px: int,
        dropout: float,
        init_std: float | None,
    ) -> None:
        super().__init__()
        if crop_px // 2 < MIN_CROP_PX:
            raise ValueError(f"{name}: crop_px must be >= {2 * MIN_CROP_PX}, got {crop_px}")
        self.name = name
        self.num_frames = 1
        c, fc = karpathy_widths(width_mult)
        self.streams = nn.ModuleDict(
            {s: nn.ModuleDict(karpathy_convs(c, pool5=False)) for s in streams})
        with torch.no_grad():
            flat = self._merge(self._conv_features(torch.zeros(1, 3, crop_px, crop_px))).shape[1]
        self.fc6 = linear_relu(flat, fc)
        self.fc7 = linear_relu(fc, fc)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fc, num_classes)
        if init_std is not None:
            init_normal_(self, std=init_std)
        else:
            init_he_(self)

    def _conv_features(self, frame: Tensor) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for stream, convs in self.streams.items():
            h = VIEWS[stream](frame)
            for stage_name, stage in convs.items():
                h = out[f"{stream}_{stage_name}"] = stage(h)
        return out

    def _merge(self, feats: dict[str, Tensor]) -> Tensor:
        return torch.cat([feats[f"{s}_conv5"].flatten(1) for s in self.streams], dim=1)

    def layer_blocks(self) -> dict[str, tuple[nn.Module, ...]]:
        """Weighted layers bottom to top; conv<i> holds that stage of every stream, since both
        streams sit at the same depth below fc6 (`raylab.models.finetune` counts these)."""
        convs = {name: tuple(self.streams[s][name] for s in self.streams)
                 for name in next(iter(self.streams.values())).keys()}
        return {**convs, "fc6": (self.fc6,), "fc7": (self.fc7,),
                "classifier": (self.classifier,)}

    def features(self, x: Tensor) -> dict[str, Tensor]:
        check_clip(self.name, x, channels=3, frames=1)
        out = self._conv_features(x[:, :, 0])
        out["fc6"] = self.fc6(self._merge(out))
        out["fc7"] = self.fc7(self.dropout(out["fc6"]))
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.features(x)["fc7"]))


def multires_single_frame(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    init_std: float | None = None,
) -> MultiresNet:
    """"Single-frame + multires" (Table 1): fovea and context streams. Each stream's input is
    half the crop's side, so a 178 px crop gives 89 px views and 256x7x7 maps per stream."""
    return MultiresNet(name="multires", streams=STREAMS, width_mult=width_mult,
                       num_classes=num_classes, crop_px=crop_px, dropout=dropout,
                       init_std=init_std)


def fovea_only(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    init_std: float | None = None,
) -> MultiresNet:
    """"Single-frame fovea only" (Table 1): just the centre stream."""
    return MultiresNet(name="fovea_only", streams=("fovea",), width_mult=width_mult,
                       num_classes=num_classes, crop_px=crop_px, dropout=dropout,
                       init_std=init_std)


def context_only(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    init_std: float | None = None,
) -> MultiresNet:
    """"Single-frame context only" (Table 1): just the downsampled whole-frame stream."""
    return MultiresNet(name="context_only", streams=("context",), width_mult=width_mult,
                       num_classes=num_classes, crop_px=crop_px, dropout=dropout,
                       init_std=init_std)
