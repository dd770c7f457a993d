"""ZF-Net (Zeiler & Fergus, ECCV 2014, Fig. 3) and its filter renormalisation.

Input is an image clip (B, 3, 1, H, W); frame 0 is used. `renormalise_filters_` is the paper's
RMS clamp; the net carries it as its `constrain_()` step constraint, which the training loop
applies after every optimiser step. The deconvnet visualisation and occlusion experiments are
not here.
"""

from __future__ import annotations

import torch
from torch import nn

from raylab.models.alexnet import alexnet_lrn
from raylab.models.fusion import FusionNet
from raylab.models.layers import FirstFrame, conv2d_relu, overlapping_max_pool, scaled_width

CONV_WIDTHS = (96, 256, 384, 384, 256)  # PAPERS.md 2.1, all connections dense
FC_WIDTH = 4096
PAPER_INIT_STD = 0.01  # PAPERS.md 2.2: "weights initialised to 1e-2, biases 0" [U: read as std]
FILTER_RADIUS = 0.1  # PAPERS.md 2.2: conv filters with RMS above 1e-1 are scaled back to 1e-1
# A filter just scaled to the radius can read back a float32 ulp above it; it is not "too big".
RADIUS_RTOL = 1e-6
# Smallest crop whose pool5 is non-empty: 47 -> conv1 22 -> pool1 11 -> conv2 4 -> pool2 2 -> 1.
MIN_CROP_PX = 47


def zf(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    paper_init: bool = False,
    renormalise: bool = True,
) -> FusionNet:
    """ZF-Net: C(96,7,2)-P-N-C(256,5,2)-P-N-C(384,3,1)-C(384,3,1)-C(256,3,1)-P-FC(4096)-FC(4096).

    Unlike AlexNet each block pools *before* its contrast normalisation, conv1 is 7x7 stride 2
    and conv2 has stride 2 (PAPERS.md 2.1). conv1 pad 1 and ceil-mode 3/2 pools reproduce the
    paper's sizes at 224 px: 110 -> 55 -> 26 -> 13 -> 13 -> pool5 6x6x256 [D]. conv2 is
    unpadded, conv3-5 pad 1. The normalisation constants are not in the paper; we use AlexNet's
    LRN [U]. Init is He (see `FusionNet`); `paper_init=True` gives N(0, 0.01) weights, zero
    biases (PAPERS.md 2.2). `renormalise` (the paper's setting) makes `constrain_()` clamp
    every conv filter's RMS to FILTER_RADIUS; False leaves the filters free.
    """
    if width_mult <= 0:
        raise ValueError(f"zf: width_mult must be > 0, got {width_mult}")
    c = [scaled_width(w, width_mult) for w in CONV_WIDTHS]
    fc = scaled_width(FC_WIDTH, width_mult)
    convs: dict[str, nn.Module] = {
        "conv1": nn.Sequential(conv2d_relu(3, c[0], kernel=7, stride=2, padding=1),
                               overlapping_max_pool(ceil_mode=True), alexnet_lrn()),
        "conv2": nn.Sequential(conv2d_relu(c[0], c[1], kernel=5, stride=2),
                               overlapping_max_pool(ceil_mode=True), alexnet_lrn()),
        "conv3": conv2d_relu(c[1], c[2], kernel=3, padding=1),
        "conv4": conv2d_relu(c[2], c[3], kernel=3, padding=1),
        "conv5": nn.Sequential(conv2d_relu(c[3], c[4], kernel=3, padding=1),
                               overlapping_max_pool(ceil_mode=True)),
    }
    return FusionNet(name="zf", num_frames=1, frames_to_input=FirstFrame(), convs=convs,
                     fc_widths=(fc, fc), num_classes=num_classes, crop_px=crop_px,
                     dropout=dropout, init_std=PAPER_INIT_STD if paper_init else None,
                     min_crop_px=MIN_CROP_PX,
                     constraint=renormalise_filters_ if renormalise else None)


@torch.no_grad()
def renormalise_filters_(model: nn.Module, radius: float = FILTER_RADIUS) -> int:
    """Scale every conv filter whose RMS exceeds `radius` back to RMS = `radius`, in place.

    A filter is one output channel's weights (in_channels x kernel); biases and fully connected
    layers are left alone (PAPERS.md 2.2), and so are frozen convs (requires_grad False, e.g.
    pre-trained layers under last-layer fine-tuning): the clamp bounds what training moves.
    Returns how many filters were rescaled.

    Note the radius was set for raw pixels in [-128, 128]: He init already gives conv1
    (fan-in 3*7*7) an RMS of about sqrt(2/147) = 0.117, so the first call shrinks it.
    """
    if radius <= 0:
        raise ValueError(f"renormalise_filters_: radius must be > 0, got {radius}")
    rescaled = 0
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)) and m.weight.requires_grad:
            w = m.weight
            rms = w.pow(2).mean(dim=tuple(range(1, w.dim())), keepdim=True).sqrt()
            too_big = rms > radius * (1 + RADIUS_RTOL)
            w.mul_(torch.where(too_big, radius / rms, torch.ones_like(rms)))
            rescaled += int(too_big.sum())
    return rescaled
