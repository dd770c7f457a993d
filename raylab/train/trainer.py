"""The driver side of one training run: plan resources, open the MLflow run, run TorchTrainer.

`fit` reads the dataset manifest, works out steps per epoch and the CPUs the plan needs (and
refuses up front when the cluster cannot run it, instead of hanging), builds the train/test
dataset factories and the TorchTrainer, and ends the MLflow run FINISHED or FAILED.
The Ray Train run name is the experiment name, so rerunning it resumes from its last checkpoint.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import ray
import ray.train
from ray.train.torch import TorchTrainer

from raylab.config import (
    ConfigError,
    DecodeSite,
    ExperimentConfig,
    FinetuneDepth,
    MeanRemoval,
    flatten,
    to_dict,
)
from raylab.data.columns import SHARD_SPLITS
from raylab.data.flow_shards import read_flow_manifest
from raylab.data.image_shards import read_pixel_stats
from raylab.data.pipeline import (
    ClipRequest,
    FlowSource,
    StackRequest,
    eval_dataset,
    flow_eval_dataset,
    flow_train_dataset,
    image_eval_dataset,
    image_train_dataset,
    train_dataset,
)
from raylab.data.shards import DatasetKind, dataset_kind, read_manifest
from raylab.eval.aggregate import EVALUATIONS
from raylab.models.build import StreamInput, build_model, clip_shape, stream_input
from raylab.models.finetune import prepare_transfer
from raylab.track import mlflow as track
from raylab.train import pretrained
from raylab.train.worker import WorkerPlan, train_loop_per_worker

PROGRESS_FILE = "raylab_progress.json"


@dataclass(frozen=True)
class FitResult:
    name: str
    run_id: str
    tracking_uri: str
    experiment_id: str
    metrics: dict[str, float]
    seconds: float
    checkpoint_dir: str = ""
    """The last epoch's checkpoint (model.pt, optimizer.pt, state.json)."""
    dataset_kind: str = DatasetKind.VIDEO.value

    def summary(self) -> str:
        """The dataset kind's headline validation metrics on one line."""
        return EVALUATIONS[DatasetKind(self.dataset_kind)].line(self.metrics)


@dataclass(frozen=True)
class RunData:
    """The datasets a run trains and validates on, by what its model reads."""

    kind: DatasetKind
    classes: list[str]
    num_train_videos: int
    train: Callable[[range], object]
    """epochs -> the training Ray Dataset streaming those epochs."""
    evaluate: Callable[[str], object]
    """split -> data.eval_clips_per_video equally spaced clips (or stacks) of every video, or
    every image once (its 10 views are cut on the worker)."""
    pixel_stats: dict | None = None
    """An image dataset's training-set statistics, when data.mean_removal/pca_lighting use them."""
    task_classes: tuple[int, ...] = ()
    """Multi-task runs: each dataset's class count, in the order of the joint label space
    (`classes` lists them all); () = one task."""


def check_input_settings(cfg: ExperimentConfig) -> None:
    """Refuse settings that do not fit what the model reads, before anything is read or run:
    multi-task data is for flow models; colour jitter, rescaling crops and decoding on the worker
    for RGB ones (a flow stack holds displacements in px, not intensities: a rescaled crop would
    need its vectors rescaled, and stacks are built in the pipeline)."""
    model = cfg.model.name.value
    if stream_input(cfg.model.name) is StreamInput.FLOW:
        if cfg.data.colour_jitter.enabled:
            raise ConfigError(f"data.colour_jitter: expected off (strengths 0) for model.name="
                              f"{model}, which reads optical-flow stacks, not colours")
        if cfg.data.crop_min_area:
            raise ConfigError(f"data.crop_min_area: expected 0 (fixed-size crops) for model.name="
                              f"{model}, which reads optical-flow stacks")
        if cfg.data.decode_on == DecodeSite.WORKER:
            raise ConfigError(f"data.decode_on: expected pipeline for model.name={model} (flow "
                              "stacks are built in the pipeline)")
    elif cfg.multitask.enabled:
        raise ConfigError(f"multitask.enabled: expected false for model.name={model} "
                          "(multi-task learning is for flow models)")


def run_data(cfg: ExperimentConfig) -> RunData:
    """RGB clips or images from data.shards_dir, or for flow models stacks from
    temporal.flow_shards_dir (and with multitask.enabled multitask.flow_shards_dir: both datasets
    in one stream)."""
    check_input_settings(cfg)
    if stream_input(cfg.model.name) is StreamInput.FLOW:
        return _flow_data(cfg)
    shards = Path(cfg.data.shards_dir).resolve()
    manifest = read_manifest(shards)
    kind = dataset_kind(manifest)
    stats = _pixel_stats(cfg, kind, shards, manifest)
    files = _split_files(shards, manifest)
    classes, num_train = list(manifest["classes"]), int(manifest["counts"]["train"])
    if kind == DatasetKind.IMAGE:
        return RunData(
            kind, classes, num_train,
            lambda epochs: image_train_dataset(
                files["train"], size_px=cfg.data.resize_px, seed=cfg.seed,
                copies_per_image=cfg.data.train_clips_per_video, epochs=epochs,
                decode_on=cfg.data.decode_on),
            lambda split: image_eval_dataset(files[split], size_px=cfg.data.resize_px,
                                             decode_on=cfg.data.decode_on), stats)
    shape = clip_shape(cfg.model.name)
    train_req = ClipRequest(shape.num_frames, shape.frame_step, cfg.data.resize_px,
                            cfg.data.train_clips_per_video, cfg.data.decode_backend,
                            cfg.data.decode_on)
    eval_req = dataclasses.replace(train_req, clips_per_video=cfg.data.eval_clips_per_video)
    return RunData(
        kind, classes, num_train,
        lambda epochs: train_dataset(files["train"], train_req, seed=cfg.seed, epochs=epochs),
        lambda split: eval_dataset(files[split], eval_req), stats)


def _flow_data(cfg: ExperimentConfig) -> RunData:
    """Flow stacks of temporal.flow_shards_dir, plus multitask.flow_shards_dir's with labels
    after the first dataset's (one joint label space, one head per dataset)."""
    dirs = [cfg.temporal.flow_shards_dir]
    if cfg.multitask.enabled:
        if not cfg.multitask.flow_shards_dir:
            raise ConfigError("multitask.flow_shards_dir: expected the second dataset's flow "
                              "shards with multitask.enabled=true (write them with `raylab "
                              "flow`; `raylab two-stream` makes the synthetic HMDB-51 set's)")
        dirs.append(cfg.multitask.flow_shards_dir)
    sources: dict[str, list[FlowSource]] = {split: [] for split in SHARD_SPLITS}
    classes: list[str] = []
    task_classes, num_train = [], 0
    for i, flow_dir in enumerate(Path(d).resolve() for d in dirs):
        manifest = read_flow_manifest(flow_dir)
        _pixel_stats(cfg, DatasetKind.VIDEO, flow_dir, manifest)  # refuses image-only settings
        for split, files in _split_files(flow_dir, manifest).items():
            sources[split].append(FlowSource(tuple(files), float(manifest["bound"]),
                                             label_offset=len(classes)))
        names = list(manifest["classes"])
        classes += [f"{cfg.multitask.names[i]}/{n}" for n in names] if len(dirs) > 1 else names
        task_classes.append(len(names))
        num_train += int(manifest["splits"]["train"])
    stack_req = StackRequest(cfg.temporal, cfg.data.resize_px, cfg.data.train_clips_per_video)
    test_req = dataclasses.replace(stack_req, stacks_per_video=cfg.data.eval_clips_per_video)
    return RunData(
        DatasetKind.VIDEO, classes, num_train,
        lambda epochs: flow_train_dataset(sources["train"], stack_req, seed=cfg.seed,
                                          epochs=epochs),
        lambda split: flow_eval_dataset(sources[split], test_req),
        task_classes=tuple(task_classes) if len(dirs) > 1 else ())


def _split_files(root: Path, manifest: dict) -> dict[str, list[str]]:
    return {s: [str(root / f) for f in manifest["files"].get(s, [])] for s in SHARD_SPLITS}


def cpus_needed(cfg: ExperimentConfig) -> float:
    """Train workers plus the CPUs Ray Data decodes on (Ray Train gives Data none of its own)."""
    return cfg.scale.num_workers * cfg.scale.cpus_per_worker + cfg.scale.decode_cpus


def connect(address: str | None, need_cpus: float) -> None:
    """Join the cluster at `address` (or RAY_ADDRESS), else start a local Ray sized for the plan."""
    if not ray.is_initialized():
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=True)
        else:
            # Logical CPUs may exceed physical cores: decode tasks and workers take turns.
            # Keep the dashboard: Ray Train's placement-group cleaner asks its state API whether
            # the controller lives, and without it kills healthy worker groups.
            # WARNING: Ray's per-report INFO lines would drown raylab's one line per epoch.
            ray.init(num_cpus=max(int(need_cpus + 0.999), os.cpu_count() or 1),
                     dashboard_host="127.0.0.1", log_to_driver=True,
                     logging_config=ray.LoggingConfig(log_level="WARNING"))
    have = ray.cluster_resources().get("CPU", 0)
    if have < need_cpus:
        raise ConfigError(
            f"scale: this plan needs {need_cpus:g} CPUs (train workers + decode) but the Ray "
            f"cluster has {have:g}; lower scale.num_workers / scale.decode_cpus")


def steps_per_epoch(cfg: ExperimentConfig, num_train_videos: int) -> int:
    clips = num_train_videos * cfg.data.train_clips_per_video
    steps = clips // cfg.scale.num_workers // cfg.data.batch_size
    if steps < 1:
        raise ConfigError(
            f"data.batch_size: {clips} training clips per epoch cannot fill one batch of "
            f"{cfg.data.batch_size} on each of {cfg.scale.num_workers} workers")
    return steps


def fit(
    cfg: ExperimentConfig, *, address: str | None = None, parent_run_id: str | None = None,
    callbacks: Sequence[object] = (), fresh: bool = False,
) -> FitResult:
    """Train `cfg` with Ray Train; `fresh` discards an earlier run of the same name."""
    start = time.perf_counter()
    workdir = Path(cfg.workdir).resolve()
    data = run_data(cfg)
    steps = steps_per_epoch(cfg, data.num_train_videos)
    connect(address, cpus_needed(cfg))
    if not cfg.scale.use_gpu and ray.cluster_resources().get("GPU", 0) >= cfg.scale.num_workers:
        cfg = dataclasses.replace(cfg, scale=dataclasses.replace(cfg.scale, use_gpu=True))

    storage = workdir / "ray_results"
    progress = storage / cfg.name / PROGRESS_FILE
    if fresh:
        shutil.rmtree(storage / cfg.name, ignore_errors=True)
    elif _epochs_done(progress) >= cfg.optim.num_epochs:
        raise ConfigError(
            f"{cfg.name}: all {cfg.optim.num_epochs} epochs are already trained in "
            f"{storage / cfg.name}; pass --fresh to train again or raise optim.num_epochs")
    uri = track.tracking_uri(cfg.track.tracking_uri, workdir)
    init_path = _check_transfer(cfg, uri, len(data.classes), data.task_classes)
    experiment_id = track.ensure_experiment(uri, cfg.track.experiment, workdir)
    run_id = track.open_run(uri, experiment_id, run_key=cfg.name, run_name=cfg.name,
                            params=flatten(cfg), parent_run_id=parent_run_id, resume=not fresh)

    def train_ds():
        # Called at every worker-group (re)start: stream only the epochs still to run.
        first = _epochs_done(progress)
        epochs = range(min(first, cfg.optim.num_epochs - 1), cfg.optim.num_epochs)
        return data.train(epochs)

    evaluation = EVALUATIONS[data.kind]
    plan = WorkerPlan(config=to_dict(cfg), class_names=data.classes,
                      steps_per_epoch=steps, tracking_uri=uri, run_id=run_id,
                      init_path=init_path, dataset_kind=data.kind.value,
                      pixel_stats=data.pixel_stats, task_classes=list(data.task_classes))
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=dataclasses.asdict(plan),
        scaling_config=ray.train.ScalingConfig(
            num_workers=cfg.scale.num_workers, use_gpu=cfg.scale.use_gpu,
            resources_per_worker={"CPU": cfg.scale.cpus_per_worker}),
        run_config=ray.train.RunConfig(
            name=cfg.name, storage_path=str(storage),
            failure_config=ray.train.FailureConfig(max_failures=cfg.scale.max_failures),
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=2, checkpoint_score_attribute=evaluation.metric,
                checkpoint_score_order=evaluation.mode),
            callbacks=[*callbacks, _ProgressCallback(progress)]),
        datasets={"train": train_ds, "test": lambda: data.evaluate("test")},
    )
    try:
        result = trainer.fit()
    except BaseException:
        track.end_run(uri, run_id, ok=False)
        raise
    track.end_run(uri, run_id, ok=result.error is None)
    if result.error is not None:
        raise result.error
    metrics = {k: float(v) for k, v in (result.metrics or {}).items()
               if isinstance(v, (int, float))}
    return FitResult(cfg.name, run_id, uri, experiment_id, metrics, time.perf_counter() - start,
                     checkpoint_dir=result.checkpoint.path if result.checkpoint else "",
                     dataset_kind=data.kind.value)


def _check_transfer(cfg: ExperimentConfig, uri: str, num_classes: int,
                    task_classes: tuple[int, ...]) -> str:
    """Resolve transfer.init_from to a local file and try it on the model here, so a wrong
    source is one line on the driver (not an error in every worker); prints what loads,
    what is re-initialised and what is frozen. Returns the file ("" for scratch)."""
    if cfg.transfer.depth == FinetuneDepth.SCRATCH:
        return ""
    path = pretrained.resolve(cfg.transfer.init_from, tracking_uri=uri,
                              download_dir=Path(cfg.workdir).resolve() / "pretrained")
    model = build_model(cfg.model, num_classes=num_classes, crop_px=cfg.data.crop_px,
                        stack_length=cfg.temporal.stack_length, task_classes=task_classes)
    report = prepare_transfer(model, cfg.transfer, pretrained.load_state(path),
                              source=str(path))
    print(f"[{cfg.name}] {report.summary()}", flush=True)
    return str(path)


def completed_epochs(cfg: ExperimentConfig) -> int:
    """Epochs of run `cfg.name` with a registered checkpoint in the work dir (0 if none)."""
    return _epochs_done(Path(cfg.workdir).resolve() / "ray_results" / cfg.name / PROGRESS_FILE)


def _pixel_stats(cfg: ExperimentConfig, kind: DatasetKind, shards: Path,
                 manifest: dict) -> dict | None:
    """The manifest's training-set statistics when the config uses them; None otherwise."""
    uses = cfg.data.mean_removal != MeanRemoval.CONSTANT or cfg.data.pca_lighting_std > 0
    if not uses:
        return None
    if kind != DatasetKind.IMAGE:
        raise ConfigError(
            f"data.mean_removal={cfg.data.mean_removal.value} / data.pca_lighting_std="
            f"{cfg.data.pca_lighting_std:g}: expected constant / 0 for a {kind.value} dataset "
            "(only image datasets carry training-set pixel statistics)")
    return read_pixel_stats(shards, manifest)


def _epochs_done(progress: Path) -> int:
    try:
        return int(json.loads(progress.read_text())["epochs_done"])
    except (OSError, ValueError, KeyError):
        return 0


class _ProgressCallback(ray.train.UserCallback):
    """Records how many epochs have a registered checkpoint, for the dataset factory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def after_report(self, run_context, metrics, checkpoint) -> None:
        if checkpoint is not None and metrics:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            done = int(metrics[0].get("epoch", -1)) + 1
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps({"epochs_done": done}))
            os.replace(tmp, self.path)
