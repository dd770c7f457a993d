"""`raylab two-stream`: Simonyan & Zisserman 2014's whole protocol in one command.

Under one MLflow parent run: train the spatial stream (RGB, one frame per sample) and the
temporal stream (L stacked flow fields) with Ray Train, each a nested run; score both splits of
both streams with the paper's 25 frames x 10 views (PAPERS.md 4.5); fuse the test scores by
averaging and by a linear SVM fitted on the train split's scores (4.6); log every number to the
parent run and print Table 1b/Table 3-shaped rows. `two_stream.temporal_variants` adds more
temporal streams (e.g. other L or stacking), each scored and fused by averaging too.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from raylab.config import ConfigError, ExperimentConfig, apply_overrides, flatten, to_dict
from raylab.data.pipeline import map_with_actor
from raylab.eval.fusion import SvmFusion, VideoScores, average
from raylab.eval.score import ScorerSpec, ViewScorer, gather
from raylab.models.build import StreamInput, stream_input
from raylab.track import mlflow as track
from raylab.train.checkpoint import MODEL_FILE
from raylab.train.trainer import FitResult, check_input_settings, fit, run_data


@dataclass(frozen=True)
class StreamResult:
    name: str
    """Run name, e.g. "two_stream-temporal"."""
    fit: FitResult
    test: VideoScores
    train: VideoScores | None
    """Train-split scores (only for the two streams the SVM is fitted on)."""


@dataclass(frozen=True)
class TwoStreamResult:
    parent_run_id: str
    tracking_uri: str
    spatial: StreamResult
    temporal: StreamResult
    variants: list[tuple[str, StreamResult, float]]
    """(variant name, its stream, test accuracy of averaging it with the spatial stream)."""
    metrics: dict[str, float]
    seconds: float

    def table(self) -> str:
        m = self.metrics
        rows = [("spatial stream", m["test/spatial_hit1"]),
                ("temporal stream", m["test/temporal_hit1"]),
                ("two-stream, averaging", m["test/fused_average_hit1"]),
                ("two-stream, linear SVM", m["test/fused_svm_hit1"])]
        lines = [f"{'UCF-101-style test, 25 frames x 10 views':<44} {'video hit@1':>11}"]
        lines += [f"{name:<44} {value:>11.3f}" for name, value in rows]
        if self.variants:
            lines += ["", f"{'temporal variant':<44} {'alone':>11} {'+ spatial (avg)':>16}"]
            lines += [f"{name:<44} {s.test.accuracy():>11.3f} {fused:>16.3f}"
                      for name, s, fused in self.variants]
        return "\n".join(lines)


def stream_config(cfg: ExperimentConfig, stream: str, overrides) -> ExperimentConfig:
    """The experiment with one stream's overrides, named `<experiment>-<stream>`.

    The stream's config drops the protocol's own stream overrides: they were validated against
    the experiment, and re-validating e.g. a bi-directional variant against a variant that set
    an odd stack length would refuse a valid table."""
    protocol = dataclasses.replace(cfg.two_stream, spatial=(), temporal=(), temporal_variants=())
    plain = dataclasses.replace(cfg, two_stream=protocol)
    return dataclasses.replace(apply_overrides(plain, dict(overrides)),
                               name=f"{cfg.name}-{stream}")


def score_stream(cfg: ExperimentConfig, fitted: FitResult, split: str) -> VideoScores:
    """25 x 10-view softmax of every video of `split`, averaged per video (PAPERS.md 4.5)."""
    frames = cfg.two_stream.test_frames
    data = run_data(dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, eval_clips_per_video=frames)))
    if data.task_classes:
        raise ConfigError(f"multitask.flow_shards_dir: expected \"\" in {cfg.name} (the 25 x "
                          "10-view scorer and fusion take single-task streams)")
    spec = ScorerSpec(model=to_dict(cfg.model),
                      weights_path=str(Path(fitted.checkpoint_dir) / MODEL_FILE),
                      num_classes=len(data.classes), crop_px=cfg.data.crop_px,
                      stack_length=cfg.temporal.stack_length, pixel_mean=cfg.data.pixel_mean,
                      pixel_scale=cfg.data.pixel_scale)
    scored = map_with_actor(data.evaluate(split), ViewScorer, constructor_kwargs={"spec": spec},
                            batch_size=cfg.data.batch_size,
                            num_gpus=1.0 if cfg.scale.use_gpu else 0.0)
    views = gather(scored.iter_batches(batch_format="numpy", batch_size=None))
    if views.failed_samples:
        print(f"[{cfg.name}] {split}: {views.failed_samples} samples did not decode, "
              "left out of the scores", flush=True)
    return VideoScores.from_views(views.scores)


def _train_and_score(cfg: ExperimentConfig, *, parent: str, address: str | None,
                     splits: tuple[str, ...]) -> StreamResult:
    kind = stream_input(cfg.model.name).value
    print(f"\n== {cfg.name}: {cfg.model.name.value} on {kind} ==", flush=True)
    fitted = fit(cfg, address=address, parent_run_id=parent, fresh=True)
    scores = {split: score_stream(cfg, fitted, split) for split in splits}
    test = scores["test"]
    track.RunLogger(fitted.tracking_uri, fitted.run_id).metrics(
        {"test/hit1_25x10": test.accuracy(), "test/num_videos": float(len(test.video_ids))},
        step=cfg.optim.num_epochs - 1)
    print(f"[{cfg.name}] test video hit@1 with 25 x 10 views: {test.accuracy():.3f}", flush=True)
    return StreamResult(cfg.name, fitted, test, scores.get("train"))


def run_two_stream(cfg: ExperimentConfig, *, address: str | None = None) -> TwoStreamResult:
    """Both streams, their variants and both fusions under one MLflow parent run."""
    start = time.perf_counter()
    spatial_cfg = stream_config(cfg, "spatial", cfg.two_stream.spatial)
    temporal_cfg = stream_config(cfg, "temporal", cfg.two_stream.temporal)
    for stream_cfg, wanted in ((spatial_cfg, StreamInput.RGB), (temporal_cfg, StreamInput.FLOW)):
        got = stream_input(stream_cfg.model.name)
        if got is not wanted:
            raise ConfigError(f"two_stream: {stream_cfg.name}'s model "
                              f"{stream_cfg.model.name.value} reads {got.value}, expected a "
                              f"model that reads {wanted.value}")
        check_input_settings(stream_cfg)  # e.g. colour jitter left on for the flow stream
    workdir = Path(cfg.workdir).resolve()
    uri = track.tracking_uri(cfg.track.tracking_uri, workdir)
    experiment_id = track.ensure_experiment(uri, cfg.track.experiment, workdir)
    parent = track.open_run(uri, experiment_id, run_key=f"{cfg.name}-two-stream",
                            run_name=f"{cfg.name}-two-stream", params=flatten(cfg), resume=False)
    print(f"two-stream {cfg.name}: MLflow parent run {parent} at {uri}", flush=True)
    try:
        both = ("train", "test")
        spatial = _train_and_score(spatial_cfg, parent=parent, address=address, splits=both)
        temporal = _train_and_score(temporal_cfg, parent=parent, address=address, splits=both)
        averaged = average(spatial.test, temporal.test)
        svm = SvmFusion.fit(spatial.train, temporal.train, c=cfg.two_stream.svm_c,
                            seed=cfg.seed).predict(spatial.test, temporal.test)
        variants = []
        for i, overrides in enumerate(cfg.two_stream.temporal_variants):
            name = ",".join(f"{k.split('.')[-1]}={v}" for k, v in overrides)
            variant_cfg = stream_config(temporal_cfg, f"variant{i}", overrides)
            result = _train_and_score(variant_cfg, parent=parent, address=address,
                                      splits=("test",))
            variants.append((name, result, average(spatial.test, result.test).accuracy()))
        metrics = {
            "test/spatial_hit1": spatial.test.accuracy(),
            "test/temporal_hit1": temporal.test.accuracy(),
            "test/fused_average_hit1": averaged.accuracy(),
            "test/fused_svm_hit1": svm.accuracy(),
            "test/num_videos": float(len(averaged.video_ids)),
        }
        for i, (_, result, fused) in enumerate(variants):
            metrics[f"test/variant{i}_temporal_hit1"] = result.test.accuracy()
            metrics[f"test/variant{i}_fused_average_hit1"] = fused
        track.RunLogger(uri, parent).metrics(metrics, step=0)
    except BaseException:
        track.end_run(uri, parent, ok=False)
        raise
    track.end_run(uri, parent, ok=True)
    return TwoStreamResult(parent, uri, spatial, temporal, variants, metrics,
                           time.perf_counter() - start)
