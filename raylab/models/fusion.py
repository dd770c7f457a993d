"""Karpathy et al. (CVPR 2014) video classifiers: the single-frame base net and slow fusion.

Every model takes a float clip tensor (B, 3, T, H, W) and returns logits (B, num_classes);
`features(x)` also returns the named activations conv1..conv5, fc6, fc7 for visualisation.
Base layers (PAPERS.md 3.2): C(96,11,3)-N-P-C(256,5,1)-N-P-C(384,3,1)-C(384,3,1)-C(256,3,1)-P-
FC(4096)-FC(4096)-FC(classes). Early/late fusion and multiresolution nets are not here (yet).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from raylab.models.layers import (
    DropTime,
    FirstFrame,
    conv2d_relu,
    conv3d_relu,
    init_he_,
    init_normal_,
    linear_relu,
    local_response_norm,
    max_pool_2x2,
    max_pool_2x2_per_frame,
    scaled_width,
)

# Paper widths (PAPERS.md 3.2): five conv layers and two hidden FC layers, scaled by width_mult.
CONV_WIDTHS = (96, 256, 384, 384, 256)
FC_WIDTH = 4096
# conv1 is 11x11 stride 3 with no padding; a smaller crop has no valid conv1 output at all.
MIN_CROP_PX = 11
SLOW_FUSION_FRAMES = 10  # PAPERS.md 3.3: 10 contiguous frames, time 10 -> 4 -> 2 -> 1 over conv1..3


class FusionNet(nn.Module):
    """Named conv stages, then FC-ReLU-dropout twice, then a linear classifier.

    `frames_to_input` adapts the (B, 3, T, H, W) clip to what conv1 expects (frame 0 for 2-D
    nets). The FC input size comes from a dry forward of a zero clip at `crop_px`, so any crop
    >= MIN_CROP_PX builds.

    Init is He et al. 2015 (normal, fan-in, ReLU gain; zero biases): with the paper's N(0, 0.01)
    or PyTorch's default init, activations shrink layer by layer in this LRN-only, BN-free stack
    and narrow nets sit at chance for hundreds of steps. `init_std` (when not None) restores the
    paper's N(0, init_std) weights with zero biases for every conv and linear layer.
    """

    def __init__(
        self,
        *,
        name: str,
        num_frames: int,
        frames_to_input: nn.Module,
        convs: dict[str, nn.Module],
        fc_width: int,
        num_classes: int,
        crop_px: int,
        dropout: float,
        init_std: float | None,
    ) -> None:
        super().__init__()
        if crop_px < MIN_CROP_PX:
            raise ValueError(f"{name}: crop_px must be >= {MIN_CROP_PX}, got {crop_px}")
        self.name = name
        self.num_frames = num_frames
        self.frames_to_input = frames_to_input
        self.convs = nn.ModuleDict(convs)
        with torch.no_grad():
            probe = torch.zeros(1, 3, num_frames, crop_px, crop_px)
            flat_features = self._conv_forward(probe)[-1].numel()
        self.fc6 = linear_relu(flat_features, fc_width)
        self.fc7 = linear_relu(fc_width, fc_width)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fc_width, num_classes)
        if init_std is not None:
            init_normal_(self, std=init_std)
        else:
            init_he_(self)

    def _conv_forward(self, x: Tensor) -> list[Tensor]:
        h = self.frames_to_input(x)
        outs = []
        for stage in self.convs.values():
            h = stage(h)
            outs.append(h)
        return outs

    def _check_clip(self, x: Tensor) -> None:
        if x.dim() != 5 or x.shape[1] != 3:
            raise ValueError(
                f"{self.name}: expected a (B, 3, T, H, W) clip tensor, got shape {tuple(x.shape)}"
            )
        if x.shape[2] != self.num_frames:
            raise ValueError(
                f"{self.name}: expected {self.num_frames} frames per clip, got {x.shape[2]}"
            )

    def features(self, x: Tensor) -> dict[str, Tensor]:
        """Named activations after each stage's ReLU/LRN/pool; fc6/fc7 are taken before dropout."""
        self._check_clip(x)
        out = dict(zip(self.convs.keys(), self._conv_forward(x), strict=True))
        out["fc6"] = self.fc6(torch.flatten(out["conv5"], start_dim=1))
        out["fc7"] = self.fc7(self.dropout(out["fc6"]))
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.features(x)["fc7"]))


def _widths(width_mult: float) -> tuple[list[int], int]:
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    return [scaled_width(w, width_mult) for w in CONV_WIDTHS], scaled_width(FC_WIDTH, width_mult)


def single_frame(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    init_std: float | None = None,
) -> FusionNet:
    """The base 2-D net on frame 0 of a T=1 clip ("Single-frame" in Table 1, PAPERS.md 3.2).

    conv1 is 'valid'; conv2-5 use 'same' padding (k // 2) [U: the paper does not state padding],
    which with ceil-mode pools ends a 170 px crop at 256x7x7 (PAPERS.md 3.2).
    """
    c, fc = _widths(width_mult)
    convs: dict[str, nn.Module] = {
        "conv1": nn.Sequential(conv2d_relu(3, c[0], kernel=11, stride=3, padding=0),
                               local_response_norm(), max_pool_2x2()),
        "conv2": nn.Sequential(conv2d_relu(c[0], c[1], kernel=5, stride=1, padding=2),
                               local_response_norm(), max_pool_2x2()),
        "conv3": conv2d_relu(c[1], c[2], kernel=3, stride=1, padding=1),
        "conv4": conv2d_relu(c[2], c[3], kernel=3, stride=1, padding=1),
        "conv5": nn.Sequential(conv2d_relu(c[3], c[4], kernel=3, stride=1, padding=1),
                               max_pool_2x2()),
    }
    return FusionNet(name="single_frame", num_frames=1, frames_to_input=FirstFrame(), convs=convs,
                     fc_width=fc, num_classes=num_classes, crop_px=crop_px, dropout=dropout,
                     init_std=init_std)


def slow_fusion(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    init_std: float | None = None,
) -> FusionNet:
    """Slow fusion over 10 frames (PAPERS.md 3.3): time is merged gradually in conv1-conv3.

    conv1 (4,11,11) stride (2,3,3) gives 4 time responses, conv2 (2,5,5) stride (2,1,1) gives 2,
    conv3 (2,3,3) stride (2,1,1) gives 1, which sees all 10 frames; conv4/conv5 are 2-D. Time is
    never padded ('valid'), space is padded as in `single_frame` [U]. LRN and pooling act on each
    time slice separately; features conv1..conv3 keep their time axis (B, C, T', H', W').
    """
    c, fc = _widths(width_mult)
    convs: dict[str, nn.Module] = {
        "conv1": nn.Sequential(
            conv3d_relu(3, c[0], kernel=(4, 11, 11), stride=(2, 3, 3), padding=(0, 0, 0)),
            local_response_norm(), max_pool_2x2_per_frame()),
        "conv2": nn.Sequential(
            conv3d_relu(c[0], c[1], kernel=(2, 5, 5), stride=(2, 1, 1), padding=(0, 2, 2)),
            local_response_norm(), max_pool_2x2_per_frame()),
        "conv3": conv3d_relu(c[1], c[2], kernel=(2, 3, 3), stride=(2, 1, 1), padding=(0, 1, 1)),
        "conv4": nn.Sequential(DropTime(), conv2d_relu(c[2], c[3], kernel=3, stride=1, padding=1)),
        "conv5": nn.Sequential(conv2d_relu(c[3], c[4], kernel=3, stride=1, padding=1),
                               max_pool_2x2()),
    }
    return FusionNet(name="slow_fusion", num_frames=SLOW_FUSION_FRAMES,
                     frames_to_input=nn.Identity(), convs=convs, fc_width=fc,
                     num_classes=num_classes, crop_px=crop_px, dropout=dropout, init_std=init_std)
