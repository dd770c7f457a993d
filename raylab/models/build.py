"""The one explicit table of models: `ModelName` -> builder, clip shape and paper reference.

`build_model` turns a `ModelConfig` into an `nn.Module`; `clip_shape` tells the data pipeline how
many frames each clip needs and how far apart they are. Adding a model means adding one
`ModelName` member and one `MODELS` row; there is no registration anywhere else.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from raylab.config import ModelConfig, ModelName
from raylab.models.alexnet import alexnet
from raylab.models.cnn_m import FLOW_STACK_LENGTH, cnn_m_2048, cnn_m_2048_temporal
from raylab.models.fusion import (
    FusionNet,
    early_fusion,
    late_fusion,
    single_frame,
    slow_fusion,
)
from raylab.models.multires import multires_single_frame
from raylab.models.torchvision_nets import googlenet, vgg16
from raylab.models.two_stream import MultiTaskNet
from raylab.models.zf import zf


@dataclass(frozen=True)
class ClipShape:
    """Which source frames one clip holds."""

    num_frames: int
    """Frames per clip (T in the model input (B, 3, T, H, W))."""
    frame_step: int
    """Spacing between consecutive clip frames, in source frames (1 = contiguous)."""

    def __post_init__(self) -> None:
        if self.num_frames < 1 or self.frame_step < 1:
            raise ValueError(f"ClipShape: num_frames and frame_step must be >= 1, got {self}")

    @property
    def span_frames(self) -> int:
        """Source frames from the first to the last clip frame, inclusive."""
        return (self.num_frames - 1) * self.frame_step + 1


class StreamInput(enum.StrEnum):
    """What a model reads: decoded RGB clips, views cut from them, or stacks of L optical-flow
    fields."""

    RGB = "rgb"
    FOVEA_CONTEXT = "fovea_context"
    """(B, 6, 1, crop/2, crop/2) fovea and context views of RGB crops (PAPERS.md 3.4), cut on
    the train worker by `raylab.data.multires_views` after the usual crop and flip."""
    FLOW = "flow"
    """(B, 2L, 1, H, W) flow stacks (PAPERS.md 4.2); the builder also takes stack_length."""


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[..., nn.Module]
    """Keyword-only builder: (num_classes, crop_px, width_mult, dropout) -> logits model."""
    clip: ClipShape
    paper: str
    """Where the architecture comes from, as it appears in tables and run names."""
    input: StreamInput = StreamInput.RGB


IMAGE = ClipShape(num_frames=1, frame_step=1)  # one frame per clip: image nets, single-frame

MODELS: dict[ModelName, ModelEntry] = {
    ModelName.SINGLE_FRAME: ModelEntry(single_frame, IMAGE, "Karpathy et al. 2014, single-frame"),
    # 10 contiguous frames, about 1/3 s of video (PAPERS.md 3.3).
    ModelName.SLOW_FUSION: ModelEntry(
        slow_fusion, ClipShape(num_frames=10, frame_step=1), "Karpathy et al. 2014, slow fusion"
    ),
    ModelName.EARLY_FUSION: ModelEntry(
        early_fusion, ClipShape(num_frames=10, frame_step=1), "Karpathy et al. 2014, early fusion"
    ),
    # Two frames 15 source frames apart (PAPERS.md 3.3).
    ModelName.LATE_FUSION: ModelEntry(
        late_fusion, ClipShape(num_frames=2, frame_step=15), "Karpathy et al. 2014, late fusion"
    ),
    ModelName.MULTIRES: ModelEntry(
        multires_single_frame, IMAGE, "Karpathy et al. 2014, single-frame + multires",
        StreamInput.FOVEA_CONTEXT,
    ),
    ModelName.ALEXNET: ModelEntry(alexnet, IMAGE, "Krizhevsky et al. 2012, AlexNet"),
    ModelName.ZF: ModelEntry(zf, IMAGE, "Zeiler & Fergus 2014, ZF-Net"),
    ModelName.CNN_M_2048: ModelEntry(
        cnn_m_2048, IMAGE, "Simonyan & Zisserman 2014, spatial stream (CNN-M-2048)"
    ),
    # Input is 2L = 20 stacked flow channels, not RGB: (B, 20, 1, H, W) (PAPERS.md 4.2).
    ModelName.CNN_M_2048_TEMPORAL: ModelEntry(
        cnn_m_2048_temporal, IMAGE, "Simonyan & Zisserman 2014, temporal stream (CNN-M-2048)",
        StreamInput.FLOW,
    ),
    ModelName.VGG16: ModelEntry(vgg16, IMAGE, "Simonyan & Zisserman 2015, VGG-16 (torchvision)"),
    ModelName.GOOGLENET: ModelEntry(
        googlenet, IMAGE, "Szegedy et al. 2015, GoogLeNet (torchvision, no aux heads)"
    ),
}


def build_model(cfg: ModelConfig, *, num_classes: int, crop_px: int,
                stack_length: int = FLOW_STACK_LENGTH,
                task_classes: tuple[int, ...] = ()) -> nn.Module:
    """The model `cfg.name` with cfg's width and dropout, for `num_classes` and `crop_px` crops;
    a flow-stream model takes 2 * stack_length input channels. `task_classes` (one class count
    per dataset, summing to num_classes) makes it a MultiTaskNet with one head per dataset."""
    entry = MODELS[cfg.name]
    extra = {"stack_length": stack_length} if entry.input is StreamInput.FLOW else {}
    model = entry.build(
        num_classes=num_classes, crop_px=crop_px, width_mult=cfg.width_mult, dropout=cfg.dropout,
        **extra,
    )
    if not task_classes:
        return model
    if sum(task_classes) != num_classes or not isinstance(model, FusionNet):
        raise ValueError(f"build_model: task_classes {task_classes} need a FusionNet model and "
                         f"must sum to num_classes={num_classes}")
    return MultiTaskNet(model, tuple(task_classes))


def stream_input(name: ModelName) -> StreamInput:
    """Whether model `name` reads RGB clips, their fovea and context views, or flow stacks."""
    return MODELS[name].input


def clip_shape(name: ModelName) -> ClipShape:
    """Frames per clip and their spacing for model `name`."""
    return MODELS[name].clip
