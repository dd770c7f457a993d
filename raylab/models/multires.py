"""Karpathy et al. (CVPR 2014) multiresolution nets: fovea and context streams (PAPERS.md 3.4).

The input is the two views, cut by the data side (`raylab.data.multires_views`) after crop and
flip: (B, 6, 1, crop_px//2, crop_px//2), RGB of each MultiresView stacked in that order; each
stream reads its own three channels. Each stream is the single-frame conv stack without its
last pool, and they meet at fc6. The paper's 178 px frames vs 170 px crops mismatch is left to
the data config (any crop >= 22 builds).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raylab.config import MultiresView
from raylab.models.fusion import MIN_CROP_PX, karpathy_convs, karpathy_widths
from raylab.models.layers import check_clip, init_he_, init_normal_, linear_relu

VIEW_CHANNELS = 3 * len(MultiresView)
"""Input channels: every view's RGB, whichever streams a net has."""


class MultiresNet(nn.Module):
    """One conv stack per stream in `streams` (separate weights [U: not stated in the paper]),
    their flattened conv5 maps concatenated, then FC-ReLU-dropout twice and a classifier.
    `crop_px` is the side of the crop the views were cut from; each view is half of it.

    `features(x)` returns "<stream>_conv1".."<stream>_conv5", fc6 and fc7 (before dropout).
    Init is He, or N(0, init_std) with zero biases when `init_std` is set (as `FusionNet`).
    """

    def __init__(
        self,
        *,
        name: str,
        streams: tuple[MultiresView, ...],
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
            {s.value: nn.ModuleDict(karpathy_convs(c, pool5=False)) for s in streams})
        probe = torch.zeros(1, VIEW_CHANNELS, 1, crop_px // 2, crop_px // 2)
        with torch.no_grad():
            flat = self._merge(self._conv_features(probe)).shape[1]
        self.fc6 = linear_relu(flat, fc)
        self.fc7 = linear_relu(fc, fc)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fc, num_classes)
        if init_std is not None:
            init_normal_(self, std=init_std)
        else:
            init_he_(self)

    def _conv_features(self, x: Tensor) -> dict[str, Tensor]:
        views = dict(zip(MultiresView, x[:, :, 0].chunk(len(MultiresView), dim=1), strict=True))
        out: dict[str, Tensor] = {}
        for stream, convs in self.streams.items():
            h = views[MultiresView(stream)]
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
        check_clip(self.name, x, channels=VIEW_CHANNELS, frames=1)
        out = self._conv_features(x)
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
    return MultiresNet(name="multires", streams=tuple(MultiresView), width_mult=width_mult,
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
    """"Single-frame fovea only" (Table 1): just the centre stream (the context view is in
    the input, unread)."""
    return MultiresNet(name="fovea_only", streams=(MultiresView.FOVEA,), width_mult=width_mult,
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
    return MultiresNet(name="context_only", streams=(MultiresView.CONTEXT,), width_mult=width_mult,
                       num_classes=num_classes, crop_px=crop_px, dropout=dropout,
                       init_std=init_std)
