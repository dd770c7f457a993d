"""TransferConfig validation and the two stage configs derived from one experiment."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylab.config import (
    ConfigError,
    ExperimentConfig,
    FinetuneDepth,
    LrSchedule,
    OptimConfig,
    Precision,
    TransferConfig,
    apply_overrides,
    flatten,
)
from raylab.train.stages import stage_configs


def test_transfer_fields_validate_with_one_line_errors():
    with pytest.raises(ConfigError, match="transfer.init_from: expected a checkpoint"):
        TransferConfig(depth=FinetuneDepth.ALL)
    with pytest.raises(ConfigError, match="transfer.top_k: expected >= 1"):
        TransferConfig(init_from="x", depth=FinetuneDepth.TOP_K, top_k=0)
    with pytest.raises(ConfigError, match="transfer.stage1_epochs"):
        TransferConfig(stage1_epochs=2)  # scratch has nothing pre-trained to keep frozen
    with pytest.raises(ConfigError, match="transfer.depth: expected one of scratch, last_layer"):
        apply_overrides(ExperimentConfig(), {"transfer.depth": "top3"})
    with pytest.raises(ConfigError, match="scale.precision: expected one of fp32, bf16, fp16"):
        apply_overrides(ExperimentConfig(), {"scale.precision": "int8"})
    cfg = apply_overrides(ExperimentConfig(), {
        "transfer.init_from": "runs:/abc/best_checkpoint", "transfer.depth": "top_k",
        "scale.precision": "bf16", "scale.channels_last": "false",
        "optim.schedule": "two_stream_finetune", "optim.warmup_epochs": "0.5"})
    assert cfg.transfer.depth == FinetuneDepth.TOP_K and cfg.scale.precision == Precision.BF16
    assert flatten(cfg)["transfer.init_from"] == "runs:/abc/best_checkpoint"


def test_stage_configs_train_the_head_then_everything_from_stage_one(tmp_path):
    cfg = ExperimentConfig(
        name="ft", workdir=str(tmp_path),
        optim=OptimConfig(lr=0.01, num_epochs=6, schedule=LrSchedule.TWO_STREAM_FINETUNE,
                          warmup_epochs=1.0),
        transfer=TransferConfig(init_from="/pre", depth=FinetuneDepth.ALL,
                                pretrained_lr_mult=0.1, stage1_epochs=2))
    one, two = stage_configs(cfg)
    assert (one.name, two.name) == ("ft-stage1", "ft-stage2")
    assert one.transfer.init_from == "/pre" and one.transfer.depth == FinetuneDepth.LAST_LAYER
    assert one.transfer.pretrained_lr_mult == 0 and one.optim.num_epochs == 2
    assert one.optim.schedule == LrSchedule.STEP and one.optim.warmup_epochs == 0
    assert Path(two.transfer.init_from) == tmp_path.resolve() / "ray_results" / "ft-stage1"
    assert two.transfer.depth == FinetuneDepth.ALL and two.transfer.pretrained_lr_mult == 0.1
    assert two.optim == cfg.optim
    assert one.transfer.stage1_epochs == two.transfer.stage1_epochs == 0
