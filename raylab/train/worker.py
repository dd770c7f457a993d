"""What every Ray Train worker runs: build, resume, then train/evaluate/report once per epoch.

The lines where Ray enters are numbered [1]-[6]. Everything else is the plain loop in loop.py.
Every rank evaluates its shard of the test clips; scores are all-gathered so each rank computes
the same video-level metrics (image-level top-k error over 10 views for image datasets), and
all ranks call ray.train.report the same number of times (it is a barrier). Rank 0 alone
checkpoints and logs to the MLflow run the driver opened.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from raylab.config import DecodeSite, ExperimentConfig, from_dict
from raylab.data.pipeline import ClipCollate
from raylab.data.shards import DatasetKind
from raylab.data.worker_decode import ClipDecode, ImageDecode
from raylab.eval.aggregate import (
    EVALUATIONS,
    ClipScores,
    confusion,
    per_class_accuracy,
    task_scores,
)
from raylab.models.build import build_model
from raylab.models.finetune import param_groups, prepare_transfer
from raylab.track.mlflow import RunLogger
from raylab.train import checkpoint as ckpt
from raylab.train.inputs import input_modules
from raylab.train.loop import SINGLE_TASK, evaluate, multitask_objective, train_epoch
from raylab.train.optim import lr_at, make_optimizer
from raylab.train.precision import compute_for
from raylab.train.pretrained import load_state
from raylab.viz.confusion import confusion_figure


@dataclass(frozen=True)
class WorkerPlan:
    """What the driver worked out for the workers (sent as a dict through train_loop_config)."""

    config: dict
    class_names: list[str]
    steps_per_epoch: int
    tracking_uri: str
    run_id: str
    init_path: str = ""
    """Pre-trained state_dict file the driver resolved from transfer.init_from ("" = none)."""
    dataset_kind: str = DatasetKind.VIDEO.value
    pixel_stats: dict | None = None
    """An image dataset's manifest pixel_stats with "mean_image" loaded (None for video)."""
    task_classes: list[int] = dataclasses.field(default_factory=list)
    """Multi-task runs: each dataset's class count in the joint label space ([] = one task)."""


def train_loop_per_worker(plan_dict: dict) -> None:
    plan = WorkerPlan(**plan_dict)
    cfg: ExperimentConfig = from_dict(ExperimentConfig, plan.config)
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    torch.manual_seed(cfg.seed + rank)
    device = ray.train.torch.get_device()  # [1] this worker's GPU, or CPU
    model = build_model(cfg.model, num_classes=len(plan.class_names), crop_px=cfg.data.crop_px,
                        stack_length=cfg.temporal.stack_length,
                        task_classes=tuple(plan.task_classes))
    # Chosen on the bare net: DDP's wrapper below does not expose the heads' offsets.
    objective = multitask_objective(model) if plan.task_classes else SINGLE_TASK
    task_classes, task_names = _tasks(plan, cfg)
    # Pre-trained weights and frozen layers first: a restored checkpoint below overwrites the
    # weights, while the freezing and LR groups must be the same after a restart.
    pretrained = load_state(Path(plan.init_path)) if plan.init_path else None
    prepare_transfer(model, cfg.transfer, pretrained, source=plan.init_path)
    optimizer = make_optimizer(model, cfg.optim, groups=param_groups(model, cfg.transfer))
    compute = compute_for(device, cfg.scale.precision, cfg.scale.channels_last)
    compute.apply_layout_(model)
    state = ckpt.TrainState()
    restored = ray.train.get_checkpoint()  # [2] the latest registered checkpoint after a restart
    if restored:
        with restored.as_directory() as d:
            state = ckpt.load(Path(d), model, optimizer)
    model = ray.train.torch.prepare_model(model)  # [3] DDP (gloo on CPU, NCCL on GPU)
    kind = DatasetKind(plan.dataset_kind)
    evaluation = EVALUATIONS[kind]
    augment, view = input_modules(kind, cfg, plan.pixel_stats)
    augment, view = augment.to(device), view.to(device)
    logger = RunLogger(plan.tracking_uri, plan.run_id) if rank == 0 else None
    decode = _worker_decode(cfg, kind, device)

    train_batches = decode(ray.train.get_dataset_shard("train").iter_torch_batches(  # [4]
        batch_size=cfg.data.batch_size, drop_last=True, collate_fn=ClipCollate(),
        local_shuffle_buffer_size=cfg.data.shuffle_buffer_clips or None,
        local_shuffle_seed=cfg.seed + rank, prefetch_batches=2,
    ))
    scores = ClipScores.concat([])
    steps = plan.steps_per_epoch
    for epoch in range(state.next_epoch, cfg.optim.num_epochs):
        stats = train_epoch(model, train_batches, augment=augment, optimizer=optimizer,
                            device=device, num_steps=steps,
                            lr_at_step=lambda s: lr_at(s, steps, cfg.optim),
                            first_step=epoch * steps, compute=compute, objective=objective)
        lr = lr_at(epoch * steps, steps, cfg.optim)  # the rate the epoch started at
        joint, eval_failures = _evaluate_all_ranks(model, view, device, cfg, world, compute,
                                                   objective, decode)
        per_task = task_scores(joint, task_classes)
        scores = per_task[0]  # the first dataset's: the run's headline and checkpoint metric
        metrics = {f"val/{k}": v for k, v in evaluation.summarize(scores).items()}
        class_acc = per_class_accuracy(scores, task_classes[0])
        metrics["val/mean_class_acc"] = _nanmean(class_acc)
        if plan.task_classes:
            for name, part, loss in zip(task_names, per_task, stats.task_losses, strict=True):
                metrics.update({f"val/{name}/{k}": v
                                for k, v in evaluation.summarize(part).items()})
                metrics[f"train/{name}/loss"] = loss
        metrics.update({
            "train/loss": stats.loss, "train/clip_acc": stats.clip_acc, "lr": lr,
            "throughput/clips_per_s": stats.clips_per_s * world,
            "data/decode_failures": float(stats.decode_failures + eval_failures),
            "epoch": float(epoch),
        })
        state.next_epoch = epoch + 1
        improved = evaluation.score(metrics) > state.best_metric
        state.best_metric = max(state.best_metric, evaluation.score(metrics))
        state.metrics = metrics
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if rank == 0:
                ckpt.save(Path(tmp), _unwrap(model), optimizer, state)
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
                logger.metrics(metrics, step=epoch)
                if improved:
                    logger.artifact(Path(tmp), "best_checkpoint")
                _print_epoch(cfg, epoch, metrics, evaluation.line(metrics))
            ray.train.report(metrics, checkpoint=checkpoint)  # [5] barrier: every rank, every epoch
    if rank == 0 and len(scores.video_ids):
        names = plan.class_names[:task_classes[0]]
        fig = confusion_figure(confusion(scores, len(names)), names,
                               f"{cfg.name}: video-level confusion (test)")
        logger.figure(fig, "confusion_matrix.png")
        # JSON, not 101 metric keys per epoch: null marks a class without test videos.
        logger.json({name: None if np.isnan(a) else float(a)
                     for name, a in zip(names, class_acc)}, "per_class_accuracy.json")


def _tasks(plan: WorkerPlan, cfg: ExperimentConfig) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """(class count, metric name) of each dataset in joint-label order; one task is the whole
    label space, unnamed."""
    if plan.task_classes:
        return tuple(plan.task_classes), cfg.multitask.names
    return (len(plan.class_names),), ("",)


def _worker_decode(cfg: ExperimentConfig, kind: DatasetKind, device):
    """batches -> batches: decoded here when the pipeline ships encoded bytes (decode_on=worker),
    else as they come. Image runs need no video decoder (nor torchcodec) on the worker."""
    if cfg.data.decode_on != DecodeSite.WORKER:
        return iter
    if kind == DatasetKind.IMAGE:
        decode = ImageDecode(size_px=cfg.data.resize_px, device=device)
    else:
        decode = ClipDecode(size_px=cfg.data.resize_px, device=device,
                            backend=cfg.data.decode_backend)
    return lambda batches: map(decode, batches)


def _evaluate_all_ranks(model, view, device, cfg: ExperimentConfig, world: int, compute,
                        objective, decode):
    shard = ray.train.get_dataset_shard("test")  # [6] each rank scores its part of the test clips
    batches = decode(shard.iter_torch_batches(batch_size=cfg.data.batch_size,
                                              collate_fn=ClipCollate()))
    scores, failures = evaluate(model, batches, view=view, device=device, compute=compute,
                                objective=objective)
    if world == 1:
        return scores, failures
    gathered: list = [None] * world
    dist.all_gather_object(gathered, (scores, failures))
    return ClipScores.concat([g[0] for g in gathered]), sum(g[1] for g in gathered)


def _nanmean(values: np.ndarray) -> float:
    """Mean over classes that have test videos (0 when none has)."""
    present = values[~np.isnan(values)]
    return float(present.mean()) if len(present) else 0.0


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if hasattr(model, "module") else model


def _print_epoch(cfg: ExperimentConfig, epoch: int, m: dict[str, float], val: str) -> None:
    print(
        f"[{cfg.name}] epoch {epoch + 1}/{cfg.optim.num_epochs}  loss {m['train/loss']:.3f}  "
        f"train clip acc {m['train/clip_acc']:.2f}  {val}  "
        f"{m['throughput/clips_per_s']:.0f} clips/s",
        flush=True,
    )
