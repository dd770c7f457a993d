"""Karpathy et al. 2014, Table 1 in miniature: single-frame vs slow fusion on synthetic motion.

Each of the 8 classes is (shape, direction): one frame shows the shape (Disc/Box, each with its
own shade) but not which of 4 directions it moves, so a single-frame net tops out at 1/4 video
hit@1 (chance 1/8); slow fusion sees 10 frames and can reach 100%.

Run:      raylab sweep karpathy_fusion          (both models, nested MLflow runs)
          raylab train karpathy_fusion --set model.name=single_frame
          raylab demo                           (both, one after the other, on the demo data)
Expected: slow_fusion video hit@1 1.00, single_frame 0.25 (measured by `raylab demo` on 2 CPU
          cores: 1.000 and 0.250 after 8 epochs, 93 s and 57 s of training).
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
