"""Typed, frozen configuration for every raylab run.

An experiment is one `ExperimentConfig`: data, model, optimiser, resources, tracking and an
optional sweep. Configs cross the Ray/Tune boundary as plain dicts (`to_dict`/`from_dict`) and
are changed from the command line with validated dotted overrides (`apply_overrides`).
This module imports nothing from the rest of raylab (it is the lowest layer).
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A config value or override that is not what the field expects (message is one line)."""


class ModelName(enum.StrEnum):
    """The explicit list of models; `raylab.models.build.MODELS` maps each to its builder."""

    SINGLE_FRAME = "single_frame"
    SLOW_FUSION = "slow_fusion"
    EARLY_FUSION = "early_fusion"
    LATE_FUSION = "late_fusion"
    MULTIRES = "multires"
    ALEXNET = "alexnet"
    ZF = "zf"
    CNN_M_2048 = "cnn_m_2048"
    CNN_M_2048_TEMPORAL = "cnn_m_2048_temporal"
    VGG16 = "vgg16"
    GOOGLENET = "googlenet"


class MeanRemoval(enum.StrEnum):
    """What is subtracted from raw 0-255 pixels before the network."""

    CONSTANT = "constant"
    """data.pixel_mean for every pixel (Karpathy et al. 2014: 117)."""
    RGB = "rgb"
    """The training set's mean colour (from an image dataset's manifest)."""
    PER_PIXEL = "per_pixel"
    """The training set's mean image (Krizhevsky et al. 2012 sec. 2; from the manifest)."""


class SyntheticData(enum.StrEnum):
    """The synthetic dataset an empty data.shards_dir stands for (written on first use)."""

    UCF101_MOTION = "ucf101_motion"
    """Moving shapes in UCF-101's layout (the demo's video set)."""
    IMAGENET_DIGITS = "imagenet_digits"
    """scikit-learn's 1,797 digit scans as RGB JPEGs in ILSVRC-2012's layout."""


@dataclass(frozen=True)
class DataConfig:
    """Where the shards are and how clips are cut, decoded and augmented."""

    shards_dir: str = ""
    """Directory written by `raylab ingest` (holds manifest.json); "" means the demo dataset."""
    resize_px: int = 200
    """Decoded frames: centre square crop, then resized to resize_px x resize_px (Karpathy: 200)."""
    crop_px: int = 170
    """Random training crop / centre test crop side (Karpathy: 170); must be <= resize_px."""
    flip_p: float = 0.5
    """Probability of mirroring a training clip (Karpathy: 0.5). Must be 0 when a label depends on
    left/right, e.g. a motion direction: a mirrored "moves left" clip moves right."""
    train_clips_per_video: int = 1
    """Random clips drawn per training video in each epoch (image datasets: copies of each image,
    each with its own crop, mirror and lighting)."""
    eval_clips_per_video: int = 4
    """Uniformly spaced clips per test video; softmax is averaged over them (Karpathy: 20).
    Image datasets always average 10 views instead (Krizhevsky et al. 2012 sec. 4.1)."""
    batch_size: int = 32
    """Clips per optimiser step per worker (Karpathy: 32)."""
    pixel_mean: float = 117.0
    """Subtracted from raw 0-255 pixels (Karpathy: constant 117)."""
    pixel_scale: float = 1.0
    """Inputs are divided by this after mean removal (1.0 keeps the paper's raw scale)."""
    shuffle_buffer_clips: int = 256
    """Local shuffle buffer in each worker's iterator (decoded clips held in memory)."""
    mean_removal: MeanRemoval = MeanRemoval.CONSTANT
    """Mean subtracted before pixel_scale; rgb and per_pixel need an image dataset (ingest
    computes them from its training split)."""
    pca_lighting_std: float = 0.0
    """Std of AlexNet's PCA lighting coefficients (Krizhevsky et al. 2012 sec. 4.1: 0.1), drawn
    per training image; 0 = off. Needs an image dataset's RGB eigenbasis."""
    synthetic: SyntheticData = SyntheticData.UCF101_MOTION
    """Which synthetic dataset shards_dir "" means."""

    def __post_init__(self) -> None:
        _require(self.resize_px > 0, "data.resize_px", "a positive pixel count", self.resize_px)
        _require(
            0 < self.crop_px <= self.resize_px,
            "data.crop_px",
            f"a positive pixel count <= data.resize_px ({self.resize_px})",
            self.crop_px,
        )
        _require(0 <= self.flip_p <= 1, "data.flip_p", "a probability in [0, 1]", self.flip_p)
        _require(self.train_clips_per_video >= 1, "data.train_clips_per_video", ">= 1",
                 self.train_clips_per_video)
        _require(self.eval_clips_per_video >= 1, "data.eval_clips_per_video", ">= 1",
                 self.eval_clips_per_video)
        _require(self.batch_size >= 1, "data.batch_size", ">= 1", self.batch_size)
        _require(self.pixel_scale > 0, "data.pixel_scale", "> 0", self.pixel_scale)
        _require(self.shuffle_buffer_clips >= 0, "data.shuffle_buffer_clips", ">= 0",
                 self.shuffle_buffer_clips)
        _require(self.pca_lighting_std >= 0, "data.pca_lighting_std", ">= 0",
                 self.pca_lighting_std)


@dataclass(frozen=True)
class ModelConfig:
    name: ModelName = ModelName.SINGLE_FRAME
    width_mult: float = 1.0
    """Multiplies every layer's width (1.0 = the paper's widths, e.g. 96-256-384-384-256 and
    4096 for Karpathy's and Krizhevsky's nets); torchvision's VGG-16/GoogLeNet take only 1.0."""
    dropout: float = 0.5
    """Dropout ratio after each hidden fully connected layer."""

    def __post_init__(self) -> None:
        _require(0 < self.width_mult <= 4, "model.width_mult", "a number in (0, 4]",
                 self.width_mult)
        _require(0 <= self.dropout < 1, "model.dropout", "a ratio in [0, 1)", self.dropout)


@dataclass(frozen=True)
class OptimConfig:
    """SGD with momentum; the learning rate is a pure function of the epoch (step decay)."""

    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    num_epochs: int = 10
    lr_decay_epochs: tuple[int, ...] = ()
    """Epochs at which the learning rate is multiplied by lr_decay_factor."""
    lr_decay_factor: float = 0.1

    def __post_init__(self) -> None:
        _require(self.lr > 0, "optim.lr", "> 0", self.lr)
        _require(0 <= self.momentum < 1, "optim.momentum", "a number in [0, 1)", self.momentum)
        _require(self.weight_decay >= 0, "optim.weight_decay", ">= 0", self.weight_decay)
        _require(self.num_epochs >= 1, "optim.num_epochs", ">= 1", self.num_epochs)
        _require(0 < self.lr_decay_factor <= 1, "optim.lr_decay_factor", "in (0, 1]",
                 self.lr_decay_factor)


@dataclass(frozen=True)
class ScaleConfig:
    """Ray resources: train workers, decode tasks and fault tolerance."""

    num_workers: int = 2
    cpus_per_worker: float = 1.0
    decode_cpus: int = 1
    """CPUs reserved for Ray Data (read + clip planning + decode) beside the train workers."""
    use_gpu: bool = False
    """One GPU per worker; `raylab train` turns it on when the cluster has GPUs."""
    max_failures: int = 1
    """Worker-group restarts from the last checkpoint before the run fails (-1 = forever)."""

    def __post_init__(self) -> None:
        _require(self.num_workers >= 1, "scale.num_workers", ">= 1", self.num_workers)
        _require(self.cpus_per_worker > 0, "scale.cpus_per_worker", "> 0", self.cpus_per_worker)
        _require(self.decode_cpus >= 1, "scale.decode_cpus", ">= 1", self.decode_cpus)
        _require(self.max_failures >= -1, "scale.max_failures", ">= -1", self.max_failures)


@dataclass(frozen=True)
class TrackConfig:
    experiment: str = "raylab"
    """MLflow experiment name (one per dataset/task so the compare view lines up)."""
    tracking_uri: str = ""
    """"" = MLFLOW_TRACKING_URI if set, else sqlite:///<workdir>/mlflow.db."""


@dataclass(frozen=True)
class SweepConfig:
    """A grid over a few fields; every trial is one full training run."""

    grid: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    """((dotted field, (value, ...)), ...),
    e.g. (("model.name", ("single_frame", "slow_fusion")),)."""
    max_concurrent_trials: int = 1
    grace_period_epochs: int = 2
    """ASHA never stops a trial before this many epochs."""

    def __post_init__(self) -> None:
        _require(self.max_concurrent_trials >= 1, "sweep.max_concurrent_trials", ">= 1",
                 self.max_concurrent_trials)
        _require(self.grace_period_epochs >= 1, "sweep.grace_period_epochs", ">= 1",
                 self.grace_period_epochs)


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = "experiment"
    """Deterministic run name: rerunning the same name resumes from its last checkpoint."""
    workdir: str = "work"
    """Holds demo data, Ray Train storage and the default MLflow store."""
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    scale: ScaleConfig = field(default_factory=ScaleConfig)
    track: TrackConfig = field(default_factory=TrackConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)

    def __post_init__(self) -> None:
        _require(bool(self.name) and "/" not in self.name, "name",
                 "a non-empty name without '/'", self.name)
        for key, values in self.sweep.grid:
            for value in values:
                apply_overrides(dataclasses.replace(self, sweep=SweepConfig()), {key: value})


def _require(ok: bool, key: str, expected: str, got: Any) -> None:
    if not ok:
        raise ConfigError(f"{key}: expected {expected}, got {got!r}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Nested plain dict (enums as values, tuples as lists) that survives JSON and Ray."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        out[f.name] = _plain(getattr(cfg, f.name))
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return to_dict(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def from_dict(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Inverse of `to_dict`; unknown keys are an error naming the dotted key."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in data:
        if key not in names:
            raise ConfigError(f"{prefix}{key}: unknown field (known: {', '.join(sorted(names))})")
    kwargs = {k: _coerce(hints[k], v, f"{prefix}{k}") for k, v in data.items()}
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(tp, value, prefix=key + ".")
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError:
            choices = ", ".join(m.value for m in tp)
            raise ConfigError(f"{key}: expected one of {choices}, got {value!r}") from None
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, str):
            value = [v for v in value.split(",") if v]
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, key) for v in value)
        return tuple(value)
    if tp is bool:
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        return value
    if tp in (int, float):
        try:
            if isinstance(value, bool):
                raise ValueError
            number = tp(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected {tp.__name__}, got {value!r}") from None
        if tp is int and isinstance(value, float) and value != number:
            raise ConfigError(f"{key}: expected int, got {value!r}")
        return number
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    return value


def apply_overrides(cfg: ExperimentConfig, overrides: dict[str, Any]) -> ExperimentConfig:
    """Return cfg with dotted `key=value` overrides applied, each validated against its field."""
    data = to_dict(cfg)
    for key, value in overrides.items():
        node = data
        parts = key.split(".")
        cls: Any = ExperimentConfig
        for i, part in enumerate(parts):
            names = {f.name for f in dataclasses.fields(cls)}
            if part not in names:
                where = ".".join(parts[: i + 1])
                known = ", ".join(sorted(names))
                raise ConfigError(f"{where}: unknown config key (known: {known})")
            tp = typing.get_type_hints(cls)[part]
            if i < len(parts) - 1:
                if not dataclasses.is_dataclass(tp):
                    raise ConfigError(f"{key}: {'.'.join(parts[: i + 1])} has no sub-fields")
                node, cls = node[part], tp
            else:
                if dataclasses.is_dataclass(tp):
                    raise ConfigError(f"{key}: is a section, set one of its fields")
                node[part] = _plain(_coerce(tp, value, key))
    return from_dict(ExperimentConfig, data)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`["a.b=1", ...]` -> `{"a.b": "1"}`; values stay strings until apply_overrides types them."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {pair!r}: expected KEY=VALUE, e.g. optim.lr=0.01")
        out[key.strip()] = value.strip()
    return out


def flatten(cfg: ExperimentConfig) -> dict[str, Any]:
    """{"data.crop_px": 170, ...}: MLflow params, the same keys in every run."""
    out: dict[str, Any] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for k, v in node.items():
            if isinstance(v, dict):
                walk(f"{prefix}{k}.", v)
            else:
                out[f"{prefix}{k}"] = v

    walk("", to_dict(cfg))
    return out
