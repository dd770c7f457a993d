"""Multi-task plumbing without Ray Train: the mixed flow stream, the loop's per-head loss and
the per-dataset split of evaluation scores."""

import dataclasses

import numpy as np
import pytest
import torch

from raylab.config import (
    ConfigError,
    ExperimentConfig,
    ModelConfig,
    ModelName,
    MultiTaskConfig,
    OptimConfig,
    Precision,
    TemporalConfig,
)
from raylab.data import columns as C
from raylab.data import pipeline
from raylab.data.flow_augment import TrainFlowAugment
from raylab.data.flow_shards import read_flow_manifest
from raylab.eval.aggregate import ClipScores, task_scores
from raylab.models.build import build_model
from raylab.train.loop import multitask_objective, train_epoch
from raylab.train.optim import make_optimizer
from raylab.train.precision import compute_for
from raylab.train.trainer import run_data

CPU = torch.device("cpu")


def _sources(*flow_dirs):
    out, offset = [], 0
    for d in flow_dirs:
        m = read_flow_manifest(d)
        out.append(pipeline.FlowSource(tuple(str(d / f) for f in m["files"]["train"]),
                                       float(m["bound"]), label_offset=offset))
        offset += len(m["classes"])
    return out


def test_every_epoch_mixes_all_row_groups_of_both_datasets_with_joint_labels(
        ray_session, tiny_flow_shards, tiny_hmdb_flow_shards):
    sources = _sources(tiny_flow_shards, tiny_hmdb_flow_shards)
    groups = pipeline._source_groups(sources)
    items = pipeline._epoch_items(groups, seed=0, epochs=range(2))
    for epoch in (0, 1):
        mine = [it for it in items if it["epoch"] == epoch]
        key = sorted((it["file"], it["row_group"]) for it in mine)
        assert key == sorted((g["file"], g["row_group"]) for g in groups)  # each once per epoch
    # Built stacks carry labels in the joint space: UCF-101 0..3, HMDB-51 4..7.
    req = pipeline.StackRequest(TemporalConfig(stack_length=2), size_px=16, stacks_per_video=1)
    labels: dict[int, set[int]] = {0: set(), 4: set()}
    for item in (it for it in items if it["epoch"] == 0):
        batch = {k: np.asarray([v]) for k, v in item.items()}
        plan = lambda vid, n, epoch: [0]  # noqa: E731 - one stack at flow 0 is enough here
        rows = next(pipeline._stack_row_groups(batch, plan=plan, req=req))
        labels[item["label_offset"]] |= set(rows[C.LABEL].tolist())
    assert labels == {0: {0, 1, 2, 3}, 4: {4, 5, 6, 7}}


def test_run_data_joins_both_datasets_and_refuses_rgb_models(
        ray_session, tiny_flow_shards, tiny_hmdb_flow_shards):
    cfg = ExperimentConfig(
        model=ModelConfig(name=ModelName.CNN_M_2048_TEMPORAL),
        temporal=TemporalConfig(flow_shards_dir=str(tiny_flow_shards)),
        multitask=MultiTaskConfig(enabled=True, flow_shards_dir=str(tiny_hmdb_flow_shards)))
    data = run_data(cfg)
    assert data.task_classes == (4, 4) and data.num_train_videos == 16 + 8
    assert data.classes[0].startswith("ucf101/") and data.classes[4] == "hmdb51/box_down"
    single = run_data(ExperimentConfig(model=cfg.model, temporal=cfg.temporal))
    assert single.task_classes == () and len(single.classes) == 4
    # The second dataset is read only when multi-task is on (as temporal.* only by flow models).
    off = dataclasses.replace(cfg.multitask, enabled=False)
    assert run_data(dataclasses.replace(cfg, multitask=off)).task_classes == ()
    with pytest.raises(ConfigError, match="multitask.enabled: expected false"):
        run_data(ExperimentConfig(multitask=cfg.multitask))
    with pytest.raises(ConfigError, match="multitask.flow_shards_dir: expected the second"):
        run_data(dataclasses.replace(cfg, multitask=MultiTaskConfig(enabled=True)))
    with pytest.raises(ConfigError, match="multitask.names"):
        MultiTaskConfig(names=("ucf101", "ucf101"))


def test_train_epoch_minimises_the_sum_of_both_datasets_losses():
    torch.manual_seed(0)
    net = build_model(ModelConfig(name=ModelName.CNN_M_2048_TEMPORAL, width_mult=0.0625,
                                  dropout=0.0), num_classes=5, crop_px=41, stack_length=2,
                      task_classes=(3, 2))
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(12):
        labels = torch.tensor([0, 1, 2, 3, 4, 0, 3, 4])  # both datasets in every batch
        # Each joint class has its own mean flow vector; the heads must tell them apart.
        frames = (labels.view(-1, 1, 1, 1).float() - 2) + 0.3 * torch.randn(8, 4, 44, 44,
                                                                            generator=g)
        frames[:, 1::2] *= -1
        batches.append({C.FRAMES: frames.half(), C.LABEL: labels,
                        C.DECODE_OK: torch.ones(8, dtype=torch.bool)})
    opt = make_optimizer(net, OptimConfig(lr=0.01))
    same = {"augment": TrainFlowAugment(crop_px=41, flip_p=0.0), "optimizer": opt,
            "device": CPU, "lr_at_step": lambda _: 0.01, "first_step": 0,
            "compute": compute_for(CPU, Precision.FP32, channels_last=False),
            "objective": multitask_objective(net)}
    first = train_epoch(net, batches, num_steps=12, **same)
    for _ in range(4):
        last = train_epoch(net, batches, num_steps=12, **same)
    for stats in (first, last):
        assert len(stats.task_losses) == 2 and min(stats.task_losses) > 0
        assert stats.loss == pytest.approx(sum(stats.task_losses))
    assert last.loss < first.loss
    assert last.clip_acc > first.clip_acc


def test_scores_split_per_dataset_with_their_own_columns_and_labels():
    probs = np.arange(6 * 5, dtype=np.float32).reshape(6, 5)
    scores = ClipScores(["a", "b", "c", "d", "e", "f"], np.array([0, 3, 2, 4, 1, 3]), probs)
    first, second = task_scores(scores, (3, 2))
    assert first.video_ids == ["a", "c", "e"] and first.labels.tolist() == [0, 2, 1]
    np.testing.assert_array_equal(first.probs, probs[[0, 2, 4], :3])
    assert second.video_ids == ["b", "d", "f"] and second.labels.tolist() == [0, 1, 0]
    np.testing.assert_array_equal(second.probs, probs[[1, 3, 5], 3:])
    (whole,) = task_scores(scores, (5,))
    np.testing.assert_array_equal(whole.probs, probs)
