"""Every row of the model table trains one step through the plain loop and is scored by the
evaluation protocol of the data it is meant for, on tiny inputs."""

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from raylab.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    ModelName,
    OptimConfig,
    Precision,
)
from raylab.data.shards import DatasetKind
from raylab.eval.aggregate import EVALUATIONS
from raylab.models.build import MODELS, StreamInput, build_model, clip_shape, stream_input
from raylab.train.inputs import input_modules
from raylab.train.loop import evaluate, train_epoch
from raylab.train.optim import make_optimizer
from raylab.train.precision import compute_for

CPU = torch.device("cpu")
COMPUTE = compute_for(CPU, Precision.FP32, channels_last=False)
CLASSES = 6
CLIPS = 4
STACK_LENGTH = 2  # flow fields per stack in the temporal-stream test (the paper's L is 10)


@dataclass(frozen=True)
class Tiny:
    """The smallest setting each model allows: crop, frame side and width."""

    kind: DatasetKind
    crop_px: int
    width_mult: float = 0.125
    frame_px: int = 0

    @property
    def frame(self) -> int:
        return self.frame_px or self.crop_px + 8


# Video nets: random crop in training, centre clip view and video hit@k (the multires net: their
# fovea and context views); image nets: ImageNet's augmentation, 10-crop views and top-k error;
# the temporal stream: flow-stack crops, video hit@k. Crops are at each net's minimum (rounded
# up); torchvision nets keep width 1.
TINY: dict[ModelName, Tiny] = {
    ModelName.SINGLE_FRAME: Tiny(DatasetKind.VIDEO, 32),
    ModelName.EARLY_FUSION: Tiny(DatasetKind.VIDEO, 32),
    ModelName.LATE_FUSION: Tiny(DatasetKind.VIDEO, 32),
    ModelName.SLOW_FUSION: Tiny(DatasetKind.VIDEO, 32),
    ModelName.MULTIRES: Tiny(DatasetKind.VIDEO, 48),
    ModelName.ALEXNET: Tiny(DatasetKind.IMAGE, 64),
    ModelName.ZF: Tiny(DatasetKind.IMAGE, 48),
    ModelName.CNN_M_2048: Tiny(DatasetKind.IMAGE, 48),
    ModelName.CNN_M_2048_TEMPORAL: Tiny(DatasetKind.VIDEO, 48),
    ModelName.VGG16: Tiny(DatasetKind.IMAGE, 32, width_mult=1.0),
    ModelName.GOOGLENET: Tiny(DatasetKind.IMAGE, 32, width_mult=1.0),
}


def test_the_tiny_table_covers_every_model():
    assert set(TINY) == set(MODELS)


def _batch(name: ModelName, tiny: Tiny, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    side = tiny.frame
    if stream_input(name) is StreamInput.FLOW:
        frames = torch.randn(CLIPS, 2 * STACK_LENGTH, side, side, generator=g).half()
    else:
        t = clip_shape(name).num_frames
        frames = torch.randint(0, 256, (CLIPS, t, side, side, 3), generator=g).to(torch.uint8)
    return {"video_id": [f"v{i % 2}" for i in range(CLIPS)],  # two clips per video/image
            "label": torch.tensor([0, 1, 0, 1]) + seed % 3,
            "frames": frames, "decode_ok": torch.ones(CLIPS, dtype=torch.bool)}


def _protocol(name: ModelName, tiny: Tiny):
    """The worker's augmentation and evaluation view for this model and dataset kind."""
    cfg = ExperimentConfig(model=ModelConfig(name=name),
                           data=DataConfig(resize_px=tiny.frame, crop_px=tiny.crop_px,
                                           pixel_scale=64))
    return input_modules(tiny.kind, cfg, stats=None)


# The full-width torchvision nets take 15-20 s each on a CPU core.
SLOW = {ModelName.VGG16, ModelName.GOOGLENET}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in MODELS])
def test_every_model_trains_a_step_and_evaluates(name):
    tiny = TINY[name]
    torch.manual_seed(0)
    model = build_model(ModelConfig(name=name, width_mult=tiny.width_mult),
                        num_classes=CLASSES, crop_px=tiny.crop_px, stack_length=STACK_LENGTH)
    augment, view = _protocol(name, tiny)
    opt = make_optimizer(model, OptimConfig(lr=0.01))
    before = [p.detach().clone() for p in model.parameters()]
    stats = train_epoch(model, [_batch(name, tiny, seed=0)], augment=augment, optimizer=opt,
                        device=CPU, num_steps=1, lr_at_step=lambda _: 0.01, first_step=0,
                        compute=COMPUTE)
    assert stats.clips == CLIPS and np.isfinite(stats.loss) and stats.loss > 0
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))

    scores, failures = evaluate(model, [_batch(name, tiny, seed=1)], view=view, device=CPU,
                                compute=COMPUTE)
    views = 10 if tiny.kind == DatasetKind.IMAGE else 1
    assert failures == 0
    assert scores.probs.shape == (CLIPS * views, CLASSES)
    assert np.allclose(scores.probs.sum(axis=1), 1, atol=1e-4)
    summary = EVALUATIONS[tiny.kind].summarize(scores)
    target = summary[EVALUATIONS[tiny.kind].target]
    assert 0.0 <= target <= 1.0
    count = summary["num_images"] if tiny.kind == DatasetKind.IMAGE else summary["num_videos"]
    assert count == 2  # two ids, each scored from its clips (and views)
