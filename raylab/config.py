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


class LrSchedule(enum.StrEnum):
    """How the learning rate falls over a run; `raylab.train.optim.lr_at` computes each one."""

    STEP = "step"
    """Multiply by optim.lr_decay_factor at each of optim.lr_decay_epochs (constant without any)."""
    ALEXNET = "alexnet"
    """Krizhevsky et al. 2012: divide by 10 three times, here at 1/4, 1/2, 3/4 of the run."""
    TWO_STREAM_SCRATCH = "two_stream_scratch"
    """Simonyan & Zisserman 2014, from scratch: /10 at 50K and 70K of 80K iterations, scaled."""
    TWO_STREAM_FINETUNE = "two_stream_finetune"
    """Simonyan & Zisserman 2014, fine-tuning: /10 at 14K of 20K iterations, scaled."""


class Precision(enum.StrEnum):
    """Arithmetic of the forward pass (autocast); weights and optimiser state stay float32."""

    FP32 = "fp32"
    BF16 = "bf16"
    FP16 = "fp16"
    """float16 with a gradient scaler; on a CPU worker it falls back to fp32."""


class FinetuneDepth(enum.StrEnum):
    """Which layers train when a model starts from pre-trained weights (Karpathy 2014 sec. 4.2)."""

    SCRATCH = "scratch"
    """Random init, every layer trains (transfer.init_from is not read)."""
    LAST_LAYER = "last_layer"
    """Only the classifier trains; everything below is a fixed feature extractor."""
    TOP_K = "top_k"
    """The transfer.top_k highest layers train (3 = fc6, fc7, classifier), the rest are frozen."""
    ALL = "all"
    """Every layer trains, starting from the pre-trained weights."""


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


class MultiresView(enum.StrEnum):
    """The inputs of Karpathy et al.'s multiresolution net (PAPERS.md 3.4), in the order their
    RGB channels are stacked: `raylab.data.multires_views` cuts them, `raylab.models.multires`
    reads them."""

    FOVEA = "fovea"
    """The centre half-side square of the crop at full resolution (89 px of 178)."""
    CONTEXT = "context"
    """The whole crop downsampled by 2."""


class StackKind(enum.StrEnum):
    """How the temporal stream's input samples L flow fields (Simonyan & Zisserman 2014, 3.1)."""

    FLOW = "flow"
    """Optical-flow stacking (eq. 1): every field sampled at the same pixel."""
    TRAJECTORY = "trajectory"
    """Trajectory stacking (eq. 2): field k sampled where the pixel's trajectory is at step k."""


class DecodeBackend(enum.StrEnum):
    """Which decoder turns encoded bytes into frames (raylab.data.decode maps each to a function).

    AUTO is torchcodec on the GPU (NVDEC) in a decoding process that runs torch with a GPU (a
    train worker), else PyAV (Ray Data decode tasks hold no GPU)."""

    AUTO = "auto"
    PYAV = "pyav"
    TORCHCODEC_CPU = "torchcodec_cpu"
    TORCHCODEC_CUDA = "torchcodec_cuda"


class DecodeSite(enum.StrEnum):
    """Where encoded frames become pixels.

    PIPELINE: Ray Data CPU tasks decode (PyAV/torchcodec CPU; PIL for JPEGs) and ship uint8
    frames to the train worker. WORKER: the pipeline ships the encoded bytes and the train worker
    decodes them on its own device (video: decode_backend, AUTO = torchcodec with NVDEC on a GPU;
    JPEGs: torchvision's decode_jpeg, nvJPEG on a GPU), so a GPU worker takes decode work off the
    CPUs and the object store holds compressed bytes instead of pixels."""

    PIPELINE = "pipeline"
    WORKER = "worker"


@dataclass(frozen=True)
class IngestConfig:
    """How `raylab ingest` turns a dataset on disk or in an object store into shards."""

    shard_target_mb: float = 256.0
    """Source bytes (videos, JPEGs) per Parquet part; a few hundred MB keeps object-store reads
    efficient."""
    segment_s: float = 5.0
    """Long-video datasets (Sports-1M) are cut into keyframe-aligned segments of at least this
    many seconds (the last may be shorter), without re-encoding."""
    val_fraction: float = 0.05
    """Share of the train videos held out as a val split, for datasets without one (Sports-1M)."""
    max_reject_fraction: float = 0.01
    """Above this share of listed files rejected, ingest exits with code 2 (shards and the
    manifest are still written, so the reasons can be read)."""
    seed: int = 0
    """Seeds the shuffle of rows into shards and the val split: same inputs, same shards."""

    def __post_init__(self) -> None:
        _require(self.shard_target_mb > 0, "ingest.shard_target_mb", "> 0", self.shard_target_mb)
        _require(self.segment_s > 0, "ingest.segment_s", "> 0", self.segment_s)
        _require(0 <= self.val_fraction < 1, "ingest.val_fraction", "a fraction in [0, 1)",
                 self.val_fraction)
        _require(0 <= self.max_reject_fraction <= 1, "ingest.max_reject_fraction",
                 "a fraction in [0, 1]", self.max_reject_fraction)


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
    HMDB51_MOTION = "hmdb51_motion"
    """Other moving shapes in HMDB-51's layout (the multi-task temporal net's second dataset)."""


@dataclass(frozen=True)
class ColourJitter:
    """Random brightness, contrast, saturation and hue of training clips with torchvision's
    ColorJitter semantics (kornia's ColorJitter; the four in a random order drawn per batch):
    factors drawn per clip, the same on every frame. All strengths 0 (the default) = off. RGB
    only: a flow stack holds displacements, not intensities."""

    brightness: float = 0.0
    """Pixels are multiplied by a factor drawn from [max(0, 1 - brightness), 1 + brightness]."""
    contrast: float = 0.0
    """Blend with the frame's mean grey by a factor from [max(0, 1 - contrast), 1 + contrast]."""
    saturation: float = 0.0
    """Blend with the frame's greyscale by a factor from [max(0, 1 - saturation), 1 + it]."""
    hue: float = 0.0
    """Hue is turned by a fraction of a full turn drawn from [-hue, hue] (at most 0.5)."""
    p: float = 1.0
    """Probability that a clip is jittered at all (torchvision jitters every image: 1)."""

    def __post_init__(self) -> None:
        for name in ("brightness", "contrast", "saturation"):
            _require(getattr(self, name) >= 0, f"data.colour_jitter.{name}", ">= 0",
                     getattr(self, name))
        _require(0 <= self.hue <= 0.5, "data.colour_jitter.hue", "a fraction of a turn in "
                 "[0, 0.5]", self.hue)
        _require(0 <= self.p <= 1, "data.colour_jitter.p", "a probability in [0, 1]", self.p)

    @property
    def enabled(self) -> bool:
        strengths = (self.brightness, self.contrast, self.saturation, self.hue)
        return self.p > 0 and any(s > 0 for s in strengths)


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
    decode_backend: DecodeBackend = DecodeBackend.AUTO
    """Decoder of clip frames; AUTO = torchcodec CUDA in a process running torch on a GPU."""
    crop_min_area: float = 0.0
    """0: a crop_px x crop_px random crop (AlexNet, Karpathy et al., two-stream). Above 0: a
    random-resized crop as in GoogLeNet (Szegedy et al. 2015 sec. 6): a patch of
    [crop_min_area, 1] of the frame's area (GoogLeNet: 0.08) and aspect ratio in [3/4, 4/3],
    resized to crop_px. RGB models only."""
    decode_on: DecodeSite = DecodeSite.PIPELINE
    """Where frames are decoded (DecodeSite); worker is how a GPU worker decodes on its GPU."""
    mean_removal: MeanRemoval = MeanRemoval.CONSTANT
    """Mean subtracted before pixel_scale; rgb and per_pixel need an image dataset (ingest
    computes them from its training split)."""
    pca_lighting_std: float = 0.0
    """Std of AlexNet's PCA lighting coefficients (Krizhevsky et al. 2012 sec. 4.1: 0.1), drawn
    per training image; 0 = off. Needs an image dataset's RGB eigenbasis."""
    synthetic: SyntheticData = SyntheticData.UCF101_MOTION
    """Which synthetic dataset shards_dir "" means."""
    colour_jitter: ColourJitter = field(default_factory=ColourJitter)
    """Colour jitter of training clips and images (off by default; refused for flow models)."""

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
        _require(0 <= self.crop_min_area <= 1, "data.crop_min_area",
                 "an area fraction in [0, 1] (0 = fixed-size crops)", self.crop_min_area)
        # Pipeline decode tasks hold no GPU: caught here, not as a failure in every task.
        _require(not (self.decode_backend == DecodeBackend.TORCHCODEC_CUDA
                      and self.decode_on == DecodeSite.PIPELINE),
                 "data.decode_backend", "torchcodec_cuda only with data.decode_on=worker",
                 str(self.decode_backend))


@dataclass(frozen=True)
class TemporalConfig:
    """The temporal stream's input: which flow shards, and how L fields become 2L channels."""

    flow_shards_dir: str = ""
    """Directory written by `raylab flow` (manifest "kind": "flow"); "" means the flow of the
    demo dataset."""
    stack_length: int = 10
    """L: flow fields per input (2L channels, x/y interleaved); the paper's default is 10."""
    stacking: StackKind = StackKind.FLOW
    bidirectional: bool = False
    """L/2 fields forward from the sampled frame and L/2 backward before it (L must be even)."""
    mean_subtraction: bool = True
    """Subtract each displacement field's mean vector (the paper's camera-motion compensation)."""

    def __post_init__(self) -> None:
        _require(self.stack_length >= 1, "temporal.stack_length", ">= 1", self.stack_length)
        _require(not self.bidirectional or self.stack_length % 2 == 0, "temporal.stack_length",
                 "an even number when temporal.bidirectional is on", self.stack_length)


@dataclass(frozen=True)
class MultiTaskConfig:
    """Multi-task learning of the temporal stream (Simonyan & Zisserman 2014 sec. 5): one trunk,
    one softmax head per dataset, loss = sum of the per-dataset losses."""

    enabled: bool = False
    """Train the temporal net on two datasets at once; false = single-task (the fields below are
    then not read, as temporal.* is not for an RGB model)."""
    flow_shards_dir: str = ""
    """The second dataset's flow shards (e.g. HMDB-51 beside temporal.flow_shards_dir's UCF-101);
    "" = the flow of the synthetic HMDB-51 set (data.synthetic=hmdb51_motion), beside the demo
    set's, made on first use by `raylab two-stream`."""
    names: tuple[str, ...] = ("ucf101", "hmdb51")
    """Metric names of the two datasets (temporal.flow_shards_dir's first): val/<name>/..."""

    def __post_init__(self) -> None:
        _require(len(self.names) == 2 and all(self.names) and len(set(self.names)) == 2
                 and not any("/" in n for n in self.names), "multitask.names",
                 "two different non-empty names without '/'", self.names)


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
    """SGD with momentum; the learning rate is a pure function of the step
    (`raylab.train.optim.lr_at`), so a resumed run gets the same rates."""

    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    num_epochs: int = 10
    lr_decay_epochs: tuple[int, ...] = ()
    """Epochs at which the learning rate is multiplied by lr_decay_factor."""
    lr_decay_factor: float = 0.1
    schedule: LrSchedule = LrSchedule.STEP
    """The papers' schedules (LrSchedule) fix their own drop points; lr_decay_* serve STEP."""
    warmup_epochs: float = 0.0
    """Linear warmup from ~0 to the schedule's lr over this many epochs (fractions allowed)."""

    def __post_init__(self) -> None:
        _require(self.lr > 0, "optim.lr", "> 0", self.lr)
        _require(self.schedule == LrSchedule.STEP or not self.lr_decay_epochs,
                 "optim.lr_decay_epochs", f"empty with optim.schedule={self.schedule.value} "
                 "(that schedule sets its own drops)", self.lr_decay_epochs)
        _require(0 <= self.warmup_epochs <= self.num_epochs, "optim.warmup_epochs",
                 f"a number in [0, optim.num_epochs={self.num_epochs}]", self.warmup_epochs)
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
    precision: Precision = Precision.FP32
    """Autocast dtype of forward passes; bf16 also runs on CPU, fp16 needs a GPU."""
    channels_last: bool = True
    """NHWC (NDHWC) weights and inputs on a GPU worker (faster cuDNN kernels); ignored on CPU."""

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


class FlowMethod(enum.StrEnum):
    """Optical flow estimators; `raylab.data.optical_flow` maps each to its builder."""

    TVL1 = "tvl1"
    """Zach et al. 2007 TV-L1 (OpenCV): what the released two-stream flow uses (PAPERS.md 4.3)."""
    FARNEBACK = "farneback"
    DIS = "dis"
    RAFT_SMALL = "raft_small"
    RAFT_LARGE = "raft_large"


@dataclass(frozen=True)
class FlowConfig:
    """`raylab flow`: how optical flow is computed from video shards and stored as flow shards."""

    method: FlowMethod = FlowMethod.TVL1
    bound_px: float = 20.0
    """Displacements are clipped to [-bound_px, bound_px] before the 0-255 rescale. The paper does
    not state its range (PAPERS.md 4.3); +-20 px is the common flow tools' default and holds
    nearly all UCF-101 motion at 320x240."""
    size_px: int = 256
    """Frames are resized (aspect kept) so the shorter side is size_px before flow is computed:
    the paper's spatial-stream rescale (smallest side 256), so flow and RGB pixels align."""
    raft_weights: str = ""
    """A local torchvision RAFT state_dict file (.pth); required by the raft methods (nothing is
    downloaded)."""

    def __post_init__(self) -> None:
        _require(self.bound_px > 0, "flow.bound_px", "a positive displacement", self.bound_px)
        _require(self.size_px >= 16, "flow.size_px", "a pixel count >= 16", self.size_px)


@dataclass(frozen=True)
class TransferConfig:
    """Start from pre-trained weights: where from, which layers train, and at what lr."""

    init_from: str = ""
    """A raylab checkpoint dir, a Ray Train run dir (its most-trained checkpoint), a .pt state_dict
    (raylab or torchvision keys), an MLflow run id, or a runs:/ or models:/ URI."""
    depth: FinetuneDepth = FinetuneDepth.SCRATCH
    top_k: int = 3
    """Layers trained with depth=top_k, counted from the classifier down."""
    pretrained_lr_mult: float = 1.0
    """LR multiplier of trained layers below the classifier (the classifier always gets 1)."""
    stage1_epochs: int = 0
    """> 0: two-stage fine-tuning. Stage 1 trains only the classifier for this many epochs;
    stage 2 starts from its checkpoint and trains `depth` for optim.num_epochs."""

    def __post_init__(self) -> None:
        _require(self.depth == FinetuneDepth.SCRATCH or bool(self.init_from),
                 "transfer.init_from", f"a checkpoint, .pt file or MLflow run when "
                 f"transfer.depth={self.depth.value}", self.init_from)
        _require(self.top_k >= 1, "transfer.top_k", ">= 1", self.top_k)
        _require(self.pretrained_lr_mult >= 0, "transfer.pretrained_lr_mult", ">= 0",
                 self.pretrained_lr_mult)
        _require(self.stage1_epochs >= 0, "transfer.stage1_epochs", ">= 0", self.stage1_epochs)
        _require(self.stage1_epochs == 0 or self.depth != FinetuneDepth.SCRATCH,
                 "transfer.stage1_epochs", "0 with transfer.depth=scratch (nothing is "
                 "pre-trained)", self.stage1_epochs)


@dataclass(frozen=True)
class TwoStreamConfig:
    """The two-stream protocol (`raylab two-stream`): both streams' settings as overrides of the
    experiment, their 25 x 10-view test scores, and late fusion."""

    spatial: tuple[tuple[str, Any], ...] = (("model.name", "cnn_m_2048"),)
    """((dotted field, value), ...) applied to the experiment for the RGB stream."""
    temporal: tuple[tuple[str, Any], ...] = (("model.name", "cnn_m_2048_temporal"),
                                             ("model.dropout", 0.9))
    """The same for the optical-flow stream (dropout 0.9 from scratch, PAPERS.md 4.4)."""
    temporal_variants: tuple[tuple[tuple[str, Any], ...], ...] = ()
    """More temporal streams, each as overrides on top of `temporal` (e.g. Table 1b's rows:
    (("temporal.stack_length", 5),)); each is trained, scored and averaged with the spatial one."""
    test_frames: int = 25
    """Equally spaced frames (stack starts) per video at test time, 10 views each (4.5)."""
    svm_c: float = 1.0
    """Regularisation of the linear SVM fused on L2-normalised softmax scores (4.6)."""
    variant_svm: bool = False
    """Fuse every temporal variant with the SVM too, not only by averaging. Off by default: the
    SVM needs the variant's train split scored with 25 x 10 views too, on the two_stream demo
    set 144 videos x 250 views, more forward passes than the variant's whole training."""

    def __post_init__(self) -> None:
        _require(self.test_frames >= 1, "two_stream.test_frames", ">= 1", self.test_frames)
        _require(self.svm_c > 0, "two_stream.svm_c", "> 0", self.svm_c)


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
    transfer: TransferConfig = field(default_factory=TransferConfig)
    temporal: TemporalConfig = field(default_factory=TemporalConfig)
    multitask: MultiTaskConfig = field(default_factory=MultiTaskConfig)
    two_stream: TwoStreamConfig = field(default_factory=TwoStreamConfig)

    def __post_init__(self) -> None:
        _require(bool(self.name) and "/" not in self.name, "name",
                 "a non-empty name without '/'", self.name)
        for key, values in self.sweep.grid:
            for value in values:
                apply_overrides(dataclasses.replace(self, sweep=SweepConfig()), {key: value})
        ts = self.two_stream
        streams = [ts.spatial, ts.temporal, *(ts.temporal + v for v in ts.temporal_variants)]
        if any(streams):
            # Checked on a copy without stream overrides, or checking would recurse.
            plain = dataclasses.replace(self, sweep=SweepConfig(),
                                        two_stream=TwoStreamConfig(spatial=(), temporal=()))
            for stream in streams:
                apply_overrides(plain, dict(stream))


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
