"""Karpathy et al. (CVPR 2014) video classifiers: single-frame, early, late and slow fusion.

Every model takes a float clip tensor (B, 3, T, H, W) and returns logits (B, num_classes);
`features(x)` also returns the named activations conv1..conv5, fc6, fc7 for visualisation.
Base layers (PAPERS.md 3.2): C(96,11,3)-N-P-C(256,5,1)-N-P-C(384,3,1)-C(384,3,1)-C(256,3,1)-P-
FC(4096)-FC(4096)-FC(classes). `FusionNet` is also the body of alexnet/zf/cnn_m; the
multiresolution nets are in `multires.py`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from raylab.models.layers import (
    DropTime,
    FirstFrame,
    check_clip,
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
EARLY_FUSION_FRAMES = 10  # PAPERS.md 3.3: the whole 10-frame window is fused at conv1
LATE_FUSION_FRAMES = 2  # PAPERS.md 3.3: two frames (15 apart, see build.MODELS) through one tower


class FusionNet(nn.Module):
    """Named conv stages, then FC-ReLU-dropout twice, then a linear classifier.

    `frames_to_input` adapts the (B, in_channels, T, H, W) clip to what conv1 expects (frame 0
    for 2-D nets). The FC input size comes from a dry forward of a zero clip at `crop_px`, so any
    crop >= `min_crop_px` builds. `fc_widths` are (fc6, fc7) (CNN-M-2048 has 4096, 2048).

    Init is He et al. 2015 (normal, fan-in, ReLU gain; zero biases): with the paper's N(0, 0.01)
    or PyTorch's default init, activations shrink layer by layer in this LRN-only, BN-free stack
    and narrow nets sit at chance for hundreds of steps. `init_std` (when not None) restores the
    paper's N(0, init_std) weights with zero biases for every conv and linear layer.

    `constraint` (when not None) is applied to the whole net by `constrain_()`, which the
    training loop calls after every optimiser step (`layers.StepConstrained`).
    """

    def __init__(
        self,
        *,
        name: str,
        num_frames: int,
        frames_to_input: nn.Module,
        convs: dict[str, nn.Module],
        fc_widths: tuple[int, int],
        num_classes: int,
        crop_px: int,
        dropout: float,
        init_std: float | None,
        in_channels: int = 3,
        min_crop_px: int = MIN_CROP_PX,
        constraint: Callable[[nn.Module], object] | None = None,
    ) -> None:
        super().__init__()
        if crop_px < min_crop_px:
            raise ValueError(f"{name}: crop_px must be >= {min_crop_px}, got {crop_px}")
        self.name = name
        self.num_frames = num_frames
        self.in_channels = in_channels
        self.frames_to_input = frames_to_input
        self.constraint = constraint
        self.convs = nn.ModuleDict(convs)
        with torch.no_grad():
            probe = torch.zeros(1, in_channels, num_frames, crop_px, crop_px)
            flat_features = self._conv_forward(probe)[-1].numel()
        self.fc6 = linear_relu(flat_features, fc_widths[0])
        self.fc7 = linear_relu(fc_widths[0], fc_widths[1])
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(fc_widths[1], num_classes)
        if init_std is not None:
            init_normal_(self, std=init_std)
        else:
            init_he_(self)

    def constrain_(self) -> None:
        """Re-apply the weight constraint, if this net has one (in place, no autograd)."""
        if self.constraint is not None:
            self.constraint(self)

    def _conv_forward(self, x: Tensor) -> list[Tensor]:
        h = self.frames_to_input(x)
        outs = []
        for stage in self.convs.values():
            h = stage(h)
            outs.append(h)
        return outs

    def layer_blocks(self) -> dict[str, tuple[nn.Module, ...]]:
        """The weighted layers bottom to top (conv1..conv5, fc6, fc7, classifier): what
        fine-tuning counts "layers from the top" in (`raylab.models.finetune`)."""
        return {**{k: (v,) for k, v in self.convs.items()}, "fc6": (self.fc6,),
                "fc7": (self.fc7,), "classifier": (self.classifier,)}

    def features(self, x: Tensor) -> dict[str, Tensor]:
        """Named activations after each stage's ReLU/LRN/pool; fc6/fc7 are taken before dropout."""
        check_clip(self.name, x, channels=self.in_channels, frames=self.num_frames)
        out = dict(zip(self.convs.keys(), self._conv_forward(x), strict=True))
        out["fc6"] = self.fc6(torch.flatten(out["conv5"], start_dim=1))
        out["fc7"] = self.fc7(self.dropout(out["fc6"]))
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.dropout(self.features(x)["fc7"]))


class StackFrames(nn.Module):
    """(B, C, T, H, W) -> (B, C*T, H, W), channel-major (index c*T + t).

    A Conv2d on the result equals a Conv3d with kernel (T, k, k) over the clip whose weight is the
    Conv2d weight reshaped to (out, C, T, k, k): early fusion's "11x11x3xT" filter (PAPERS.md 3.3).
    """

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(1, 2)


class PerFrame(nn.Module):
    """Applies a 2-D `stage` to every frame of (B, C, T, H, W) with the same weights, time kept."""

    def __init__(self, stage: nn.Module) -> None:
        super().__init__()
        self.stage = stage

    def forward(self, x: Tensor) -> Tensor:
        b, _, t = x.shape[:3]
        y = self.stage(x.transpose(1, 2).flatten(0, 1))  # frames folded into the batch
        return y.unflatten(0, (b, t)).transpose(1, 2)


def karpathy_widths(width_mult: float) -> tuple[list[int], int]:
    """The paper's conv widths and FC width (PAPERS.md 3.2) scaled by `width_mult`."""
    if width_mult <= 0:
        raise ValueError(f"width_mult must be > 0, got {width_mult}")
    return [scaled_width(w, width_mult) for w in CONV_WIDTHS], scaled_width(FC_WIDTH, width_mult)


def karpathy_convs(c: list[int], *, in_channels: int = 3, pool5: bool = True
                   ) -> dict[str, nn.Module]:
    """The single-frame net's 2-D conv stages conv1..conv5 with widths `c` (PAPERS.md 3.2).

    conv1 is 'valid'; conv2-5 use 'same' padding (k // 2) [U: the paper does not state padding],
    which with ceil-mode pools ends a 170 px crop at 256x7x7. `pool5=False` drops the last pool
    (the multiresolution streams, PAPERS.md 3.4).
    """
    convs: dict[str, nn.Module] = {
        "conv1": nn.Sequential(conv2d_relu(in_channels, c[0], kernel=11, stride=3, padding=0),
                               local_response_norm(), max_pool_2x2()),
        "conv2": nn.Sequential(conv2d_relu(c[0], c[1], kernel=5, stride=1, padding=2),
                               local_response_norm(), max_pool_2x2()),
        "conv3": conv2d_relu(c[1], c[2], kernel=3, stride=1, padding=1),
        "conv4": conv2d_relu(c[2], c[3], kernel=3, stride=1, padding=1),
        "conv5": conv2d_relu(c[3], c[4], kernel=3, stride=1, padding=1),
    }
    if pool5:
        convs["conv5"] = nn.Sequential(convs["conv5"], max_pool_2x2())
    return convs


def single_frame(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    init_std: float | None = None,
) -> FusionNet:
    """The base 2-D net on frame 0 of a T=1 clip ("Single-frame" in Table 1, PAPERS.md 3.2)."""
    c, fc = karpathy_widths(width_mult)
    return FusionNet(name="single_frame", num_frames=1, frames_to_input=FirstFrame(),
                     convs=karpathy_convs(c), fc_widths=(fc, fc), num_classes=num_classes,
                     crop_px=crop_px, dropout=dropout, init_std=init_std)


def early_fusion(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    init_std: float | None = None,
) -> FusionNet:
    """Early fusion (PAPERS.md 3.3): 10 frames stacked on channels, fused by conv1 alone.

    conv1 is Conv2d(3*10, 96, 11, stride 3) (= Conv3d with kernel (10, 11, 11), see
    `StackFrames`); everything after conv1 is the single-frame net. Features are 2-D.
    """
    c, fc = karpathy_widths(width_mult)
    convs = karpathy_convs(c, in_channels=3 * EARLY_FUSION_FRAMES)
    return FusionNet(name="early_fusion", num_frames=EARLY_FUSION_FRAMES,
                     frames_to_input=StackFrames(), convs=convs, fc_widths=(fc, fc),
                     num_classes=num_classes, crop_px=crop_px, dropout=dropout, init_std=init_std)


def late_fusion(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    init_std: float | None = None,
) -> FusionNet:
    """Late fusion (PAPERS.md 3.3): one single-frame tower (shared weights) on each of 2 frames.

    The frames are 15 source frames apart (`build.MODELS` clip shape 2x15). The two pool5 maps
    meet only at fc6, whose input holds both (flattened channel-major from (B, C, 2, H', W'):
    a fixed permutation of "concatenate the two pool5 vectors"). Features conv1..conv5 keep the
    time axis (B, C, 2, H', W').
    """
    c, fc = karpathy_widths(width_mult)
    convs = {k: PerFrame(stage) for k, stage in karpathy_convs(c).items()}
    return FusionNet(name="late_fusion", num_frames=LATE_FUSION_FRAMES,
                     frames_to_input=nn.Identity(), convs=convs, fc_widths=(fc, fc),
                     num_classes=num_classes, crop_px=crop_px, dropout=dropout, init_std=init_std)


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
    c, fc = karpathy_widths(width_mult)
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
                     frames_to_input=nn.Identity(), convs=convs, fc_widths=(fc, fc),
                     num_classes=num_classes, crop_px=crop_px, dropout=dropout, init_std=init_std)
