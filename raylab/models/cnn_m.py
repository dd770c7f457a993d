"""CNN-M-2048 (Chatfield et al. 2014), the stream net of the two-stream ConvNets (PAPERS.md 4.1).

`cnn_m_2048` is the spatial (RGB) stream; `cnn_m_2048_temporal` the optical-flow stream, which
takes 2L stacked flow channels and drops the second LRN. Input is (B, in_channels, 1, H, W) and
frame 0 is used. Flow computation, stacking and two-stream score fusion are not here.
"""

from __future__ import annotations

from torch import nn

from raylab.models.alexnet import alexnet_lrn
from raylab.models.fusion import FusionNet
from raylab.models.layers import FirstFrame, conv2d_relu, overlapping_max_pool, scaled_width

CONV_WIDTHS = (96, 256, 512, 512, 512)  # PAPERS.md 4.1
FC_WIDTHS = (4096, 2048)  # full6, full7: the "2048" of CNN-M-2048
FLOW_STACK_LENGTH = 10  # PAPERS.md 4.2/4.4: L = 10 flow fields -> 2L = 20 input channels
TEMPORAL_DROPOUT = 0.9  # PAPERS.md 4.4: temporal nets trained from scratch use dropout 0.9
# Smallest crop whose pool5 is non-empty: 41 -> conv1 18 -> pool1 9 -> conv2 4 -> pool2 2 -> 1.
MIN_CROP_PX = 41


def cnn_m_2048(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = 0.5,
    in_channels: int = 3,
    second_norm: bool = True,
) -> FusionNet:
    """CNN-M-2048: C(96,7,2)-N-P-C(256,5,2)-N-P-C(512,3,1)x3-P-FC(4096)-FC(2048)-FC(classes).

    LRN has AlexNet's settings and comes before each pool, as in AlexNet; all pools are 3x3
    stride 2 with ceil rounding (Caffe), conv1 unpadded, conv2 pad 1, conv3-5 pad 1. At 224 px:
    109 -> 54 -> 26 -> 13 -> pool5 512x6x6 = 18432 fc6 inputs (PAPERS.md 4.1 table).
    `second_norm=False` drops conv2's LRN (the temporal stream, to save memory). Init is He (the
    paper does not state one [U]).
    """
    if width_mult <= 0:
        raise ValueError(f"cnn_m_2048: width_mult must be > 0, got {width_mult}")
    if in_channels < 1:
        raise ValueError(f"cnn_m_2048: in_channels must be >= 1, got {in_channels}")
    c = [scaled_width(w, width_mult) for w in CONV_WIDTHS]
    fc = (scaled_width(FC_WIDTHS[0], width_mult), scaled_width(FC_WIDTHS[1], width_mult))
    norm2: nn.Module = alexnet_lrn() if second_norm else nn.Identity()
    convs: dict[str, nn.Module] = {
        "conv1": nn.Sequential(conv2d_relu(in_channels, c[0], kernel=7, stride=2), alexnet_lrn(),
                               overlapping_max_pool(ceil_mode=True)),
        "conv2": nn.Sequential(conv2d_relu(c[0], c[1], kernel=5, stride=2, padding=1), norm2,
                               overlapping_max_pool(ceil_mode=True)),
        "conv3": conv2d_relu(c[1], c[2], kernel=3, padding=1),
        "conv4": conv2d_relu(c[2], c[3], kernel=3, padding=1),
        "conv5": nn.Sequential(conv2d_relu(c[3], c[4], kernel=3, padding=1),
                               overlapping_max_pool(ceil_mode=True)),
    }
    name = "cnn_m_2048" if second_norm else "cnn_m_2048_temporal"
    return FusionNet(name=name, num_frames=1, frames_to_input=FirstFrame(), convs=convs,
                     fc_widths=fc, num_classes=num_classes, crop_px=crop_px, dropout=dropout,
                     init_std=None, in_channels=in_channels, min_crop_px=MIN_CROP_PX)


def cnn_m_2048_temporal(
    *,
    num_classes: int,
    crop_px: int,
    width_mult: float = 1.0,
    dropout: float = TEMPORAL_DROPOUT,
    stack_length: int = FLOW_STACK_LENGTH,
) -> FusionNet:
    """The temporal stream: CNN-M-2048 on 2 * stack_length flow channels (x/y interleaved,
    PAPERS.md 4.2) without the second LRN. Input (B, 2 * stack_length, 1, H, W)."""
    if stack_length < 1:
        raise ValueError(f"cnn_m_2048_temporal: stack_length must be >= 1, got {stack_length}")
    return cnn_m_2048(num_classes=num_classes, crop_px=crop_px, width_mult=width_mult,
                      dropout=dropout, in_channels=2 * stack_length, second_norm=False)
