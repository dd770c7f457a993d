"""The one explicit table of models: `ModelName` -> builder, clip shape and paper reference.

`build_model` turns a `ModelConfig` into an `nn.Module`; `clip_shape` tells the data pipeline how
many frames each clip needs and how far apart they are. Adding a model means adding one
`ModelName` member and one `MODELS` row; there is no registration anywhere else.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from raylab.config import ModelConfig, ModelName
from raylab.models.fusion import single_frame, slow_fusion


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


@dataclass(frozen=True)
class ModelEntry:
    build: Callable[..., nn.Module]
    """Keyword-only builder: (num_classes, crop_px, width_mult, dropout) -> logits model."""
    clip: ClipShape
    paper: str
    """Where the architecture comes from, as it appears in tables and run names."""


MODELS: dict[ModelName, ModelEntry] = {
    ModelName.SINGLE_FRAME: ModelEntry(
        single_frame, ClipShape(num_frames=1, frame_step=1), "Karpathy et al. 2014, single-frame"
    ),
    # 10 contiguous frames, about 1/3 s of video (PAPERS.md 3.3).
    ModelName.SLOW_FUSION: ModelEntry(
        slow_fusion, ClipShape(num_frames=10, frame_step=1), "Karpathy et al. 2014, slow fusion"
    ),
}


def build_model(cfg: ModelConfig, *, num_classes: int, crop_px: int) -> nn.Module:
    """The model `cfg.name` with cfg's width and dropout, for `num_classes` and `crop_px` crops."""
    entry = MODELS[cfg.name]
    return entry.build(
        num_classes=num_classes, crop_px=crop_px, width_mult=cfg.width_mult, dropout=cfg.dropout
    )


def clip_shape(name: ModelName) -> ClipShape:
    """Frames per clip and their spacing for model `name`."""
    return MODELS[name].clip
