"""Karpathy et al. 2014, Table 1 in miniature: single-frame vs slow fusion on synthetic motion.

Each class is (shape, direction): one frame shows only the shape, so a single-frame net can be
right about the class at best 1/4 of the time beyond the shape (2 of 8 classes share a shape
per direction -> ~25-30% video hit@1), while slow fusion sees motion and should approach 100%.

Run:      raylab sweep karpathy_fusion          (both models, nested MLflow runs)
          raylab train karpathy_fusion --set model.name=slow_fusion
Expected: slow_fusion video hit@1 >= 0.9, single_frame about 0.25-0.5 (chance 0.125).
"""

from raylab.config import (
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    ModelName,
    OptimConfig,
    ScaleConfig,
    SweepConfig,
    TrackConfig,
)


def config() -> ExperimentConfig:
    # Narrow nets and small crops: the same code path as the paper's 170 px full-width nets,
    # sized for 2 CPU cores (a full-width net trains at ~14 images/s there).
    return ExperimentConfig(
        name="karpathy_fusion",
        # flip_p=0: mirroring would turn a "moves left" clip into "moves right" (label noise).
        data=DataConfig(resize_px=72, crop_px=64, flip_p=0.0, train_clips_per_video=16,
                        eval_clips_per_video=4, batch_size=16, pixel_scale=64.0),
        model=ModelConfig(name=ModelName.SLOW_FUSION, width_mult=0.125, dropout=0.5),
        optim=OptimConfig(lr=0.01, num_epochs=8, lr_decay_epochs=(6,)),
        scale=ScaleConfig(num_workers=2, decode_cpus=1),
        track=TrackConfig(experiment="karpathy_fusion"),
        sweep=SweepConfig(grid=(("model.name", ("single_frame", "slow_fusion")),)),
    )


def smoke() -> ExperimentConfig:
    cfg = config()
    return ExperimentConfig(
        name="karpathy_fusion_smoke",
        workdir=cfg.workdir,
        data=DataConfig(resize_px=56, crop_px=48, flip_p=0.0, train_clips_per_video=1,
                        eval_clips_per_video=2, batch_size=8, pixel_scale=64.0),
        model=cfg.model,
        optim=OptimConfig(lr=0.01, num_epochs=2),
        scale=cfg.scale,
        track=TrackConfig(experiment="karpathy_fusion_smoke"),
        sweep=cfg.sweep,
    )
