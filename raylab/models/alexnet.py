"""AlexNet (Krizhevsky, Sutskever, Hinton, NIPS 2012) as one single-GPU net with grouped convs.

Input is an image clip (B, 3, 1, H, W); frame 0 is used. The paper's AlexNet LRN (`alexnet_lrn`)
is also what ZF-Net and CNN-M use. Not here: torchvision's "one weird trick" AlexNet (64-192-
384-256-256, no LRN; PAPERS.md 1.7), PCA colour jitter and 10-crop testing.
"""

from __future__ import annotations

import torch
from torch import nn

from raylab.models.fusion import FusionNet
from raylab.models.layers import (
    FirstFrame,
    conv2d_relu,
    init_normal_,
    local_response_norm,
    overlapping_max_pool,
    scaled_width,
)

# LRN after conv1 and conv2, PAPERS.md 1.2: k=2, n=5, alpha=1e-4 as in layers.py (same literal
# alpha convention: torch gets alpha * n; Caffe's bvlc_alexnet passes 1e-4, 5x weaker), but
# beta=0.75 where Karpathy et al. use 0.5.
LRN_BETA = 0.75

CONV_WIDTHS = (96, 256, 384, 384, 256)  # PAPERS.md 1.2, both GPUs' halves merged
FC_WIDTH = 4096
GROUPS = 2  # the two-GPU split: conv2, conv4, conv5 see only their own half (PAPERS.md 1.2)
PAPER_INIT_STD = 0.01  # PAPERS.md 1.4: weights ~ N(0, 0.01^2)
PAPER_UNIT_BIAS = ("conv2", "conv4", "conv5", "fc6", "fc7")  # PAPERS.md 1.4: biases = 1 here
# Smallest crop whose pool5 is non-empty: 63 -> conv1 15 -> pool1 7 -> pool2 3 -> pool5 1.
MIN_CROP_PX = 63


def alexnet_lrn() -> nn.LocalResponseNorm:
    """Across-channel LRN with AlexNet's constants (also what ZF-Net and CNN-M use)."""
    return local_response_norm(beta=LRN_BETA)


def alexnet(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    paper_init: bool = False,
) -> FusionNet:
    """AlexNet: C(96,11,4)-N-P-C(256,5,1,g2)-N-P-C(384,3,1)-C(384,3,1,g2)-C(256,3,1,g2)-P-
    FC(4096)-FC(4096)-FC(classes), ReLU after every layer, dropout after fc6 and fc7.

    conv1 uses padding 2 so the paper's 224 px crop gives 55x55 ((224 + 4 - 11) // 4 + 1; the
    paper's numbers need 227 px or padding, PAPERS.md 1.7 [U]); then 27, 13, 13 and pool5 6x6,
    9216 inputs to fc6. Pools use floor rounding (either rounding gives these sizes at 224) [U].
    Widths are rounded to a multiple of GROUPS so the grouped convs split evenly.

    Init is He (see `FusionNet`); `paper_init=True` gives the paper's N(0, 0.01) weights with
    bias 1 on conv2, conv4, conv5, fc6, fc7 and 0 elsewhere (PAPERS.md 1.4).
    """
    if width_mult <= 0:
        raise ValueError(f"alexnet: width_mult must be > 0, got {width_mult}")
    c = [GROUPS * scaled_width(w / GROUPS, width_mult) for w in CONV_WIDTHS]
    fc = scaled_width(FC_WIDTH, width_mult)
    convs: dict[str, nn.Module] = {
        "conv1": nn.Sequential(conv2d_relu(3, c[0], kernel=11, stride=4, padding=2),
                               alexnet_lrn(), overlapping_max_pool()),
        "conv2": nn.Sequential(conv2d_relu(c[0], c[1], kernel=5, padding=2, groups=GROUPS),
                               alexnet_lrn(), overlapping_max_pool()),
        "conv3": conv2d_relu(c[1], c[2], kernel=3, padding=1),
        "conv4": conv2d_relu(c[2], c[3], kernel=3, padding=1, groups=GROUPS),
        "conv5": nn.Sequential(conv2d_relu(c[3], c[4], kernel=3, padding=1, groups=GROUPS),
                               overlapping_max_pool()),
    }
    model = FusionNet(name="alexnet", num_frames=1, frames_to_input=FirstFrame(), convs=convs,
                      fc_widths=(fc, fc), num_classes=num_classes, crop_px=crop_px,
                      dropout=dropout, init_std=None, min_crop_px=MIN_CROP_PX)
    if paper_init:
        init_alexnet_paper_(model)
    return model


@torch.no_grad()
def init_alexnet_paper_(model: FusionNet) -> None:
    """The paper's init (PAPERS.md 1.4), in place: N(0, 0.01) weights; unit biases on
    conv2/4/5 and fc6/7 (to give their ReLUs positive inputs early), zero biases elsewhere."""
    init_normal_(model, std=PAPER_INIT_STD)
    layers = {**dict(model.convs.items()), "fc6": model.fc6, "fc7": model.fc7}
    for name in PAPER_UNIT_BIAS:
        first = next(m for m in layers[name].modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
        first.bias.fill_(1.0)
