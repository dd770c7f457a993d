"""`raylab two-stream`: Simonyan & Zisserman 2014's whole protocol in one command.

Under one MLflow parent run: train the spatial stream (RGB, one frame per sample) and the
temporal stream (L stacked flow fields) with Ray Train, each a nested run; score both splits of
both streams with the paper's 25 frames x 10 views (PAPERS.md 4.5); fuse the test scores by
averaging and by a linear SVM fitted on the train split's scores (4.6); log every number to the
parent run and print Table 1b/Table 3-shaped rows. `two_stream.temporal_variants` adds more
temporal streams (e.g. other L or stacking), each scored and fused by averaging (and by the SVM
with `two_stream.variant_svm`). A temporal stream may be multi-task (sec. 5, `multitask.enabled`:
UCF-101 + HMDB-51): its first dataset's head is scored and fused, every other dataset's test set
is scored on its own head and reported beside it (Table 2).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from raylab import experiments
from raylab.config import ConfigError, ExperimentConfig, apply_overrides, flatten, to_dict
from raylab.data.pipeline import map_with_actor
from raylab.eval.aggregate import task_scores
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
    """The first (or only) dataset's test scores: what is fused with the spatial stream."""
    train: VideoScores | None
    """Train-split scores of the first dataset (only for streams an SVM is fitted on)."""
    other_tests: dict[str, VideoScores] = field(default_factory=dict)
    """A multi-task stream's other datasets' test scores, each on its own head, by
    multitask.names (e.g. "hmdb51"); empty for a single-task stream."""


@dataclass(frozen=True)
class VariantResult:
    name: str
    """Its overrides, e.g. "stack_length=5" or "multitask.enabled=True"."""
    stream: StreamResult
    average: float
    """Test hit@1 of averaging it with the spatial stream."""
    svm: float | None
    """Test hit@1 of the SVM fusion with the spatial stream; None without two_stream.variant_svm."""


@dataclass(frozen=True)
class TwoStreamResult:
    parent_run_id: str
    tracking_uri: str
    spatial: StreamResult
    temporal: StreamResult
    variants: list[VariantResult]
    metrics: dict[str, float]
    seconds: float

    def table(self) -> str:
        m = self.metrics
        rows = [("spatial stream", m["test/spatial_hit1"]),
                ("temporal stream", m["test/temporal_hit1"]),
                *((f"temporal stream, {name} test on its own head", scores.accuracy())
                  for name, scores in self.temporal.other_tests.items()),
                ("two-stream, averaging", m["test/fused_average_hit1"]),
                ("two-stream, linear SVM", m["test/fused_svm_hit1"])]
        lines = [f"{'UCF-101-style test, 25 frames x 10 views':<44} {'video hit@1':>11}"]
        lines += [f"{name:<44} {value:>11.3f}" for name, value in rows]
        if self.variants:
            lines += ["", f"{'temporal variant':<44} {'alone':>11} {'+ spatial (avg)':>16} "
                          f"{'+ spatial (SVM)':>16}"]
            for v in self.variants:
                svm = "-" if v.svm is None else f"{v.svm:.3f}"
                lines.append(f"{v.name:<44} {v.stream.test.accuracy():>11.3f} "
                             f"{v.average:>16.3f} {svm:>16}")
                lines += [f"{'  ' + name + ' test on its own head':<44} {s.accuracy():>11.3f}"
                          for name, s in v.stream.other_tests.items()]
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


def variant_name(overrides) -> str:
    """A variant's table row: its overrides, temporal.* keys without the prefix."""
    return ",".join(f"{k.removeprefix('temporal.')}={v}" for k, v in overrides)


def plan_streams(cfg: ExperimentConfig, progress=print
                 ) -> tuple[ExperimentConfig, ExperimentConfig, list[ExperimentConfig]]:
    """(spatial, temporal, variants) stream configs, checked before anything trains; every
    temporal one with its flow shards resolved (experiments.ensure_flow: the demo set's flow,
    and for a multi-task stream the synthetic HMDB-51 set's, made on first use)."""
    spatial = stream_config(cfg, "spatial", cfg.two_stream.spatial)
    temporal = stream_config(cfg, "temporal", cfg.two_stream.temporal)
    variants = [stream_config(temporal, f"variant{i}", overrides)
                for i, overrides in enumerate(cfg.two_stream.temporal_variants)]
    if spatial.multitask.enabled:
        raise ConfigError(f"multitask.enabled: expected false for {spatial.name} (multi-task "
                          "learning is for the temporal stream: enable it in two_stream.temporal "
                          "or a two_stream.temporal_variants entry)")
    inputs = [(spatial, StreamInput.RGB), *((t, StreamInput.FLOW) for t in (temporal, *variants))]
    for stream_cfg, wanted in inputs:
        got = stream_input(stream_cfg.model.name)
        if got is not wanted:
            raise ConfigError(f"two_stream: {stream_cfg.name}'s model "
                              f"{stream_cfg.model.name.value} reads {got.value}, expected a "
                              f"model that reads {wanted.value}")
        check_input_settings(stream_cfg)  # e.g. colour jitter left on for the flow stream
    temporal = experiments.ensure_flow(temporal, progress)
    return spatial, temporal, [experiments.ensure_flow(v, progress) for v in variants]


def score_stream(cfg: ExperimentConfig, fitted: FitResult, split: str) -> list[VideoScores]:
    """25 x 10-view softmax of every video of `split`, averaged per video (PAPERS.md 4.5): one
    VideoScores per dataset, in multitask.names order for a multi-task stream (each on its own
    head; every dataset's videos of the split are scored in one pass over its joint stream)."""
    frames = cfg.two_stream.test_frames
    data = run_data(dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, eval_clips_per_video=frames)))
    spec = ScorerSpec(model=to_dict(cfg.model),
                      weights_path=str(Path(fitted.checkpoint_dir) / MODEL_FILE),
                      num_classes=len(data.classes), crop_px=cfg.data.crop_px,
                      stack_length=cfg.temporal.stack_length, pixel_mean=cfg.data.pixel_mean,
                      pixel_scale=cfg.data.pixel_scale, task_classes=data.task_classes)
    scored = map_with_actor(data.evaluate(split), ViewScorer, constructor_kwargs={"spec": spec},
                            batch_size=cfg.data.batch_size,
                            num_gpus=1.0 if cfg.scale.use_gpu else 0.0)
    views = gather(scored.iter_batches(batch_format="numpy", batch_size=None))
    if views.failed_samples:
        print(f"[{cfg.name}] {split}: {views.failed_samples} samples did not decode, "
              "left out of the scores", flush=True)
    per_task = task_scores(views.scores, data.task_classes) if data.task_classes else [
        views.scores]
    return [VideoScores.from_views(scores) for scores in per_task]


def _train_and_score(cfg: ExperimentConfig, *, parent: str, address: str | None,
                     splits: tuple[str, ...]) -> StreamResult:
    kind = stream_input(cfg.model.name).value
    tasks = " + ".join(cfg.multitask.names) if cfg.multitask.enabled else "one dataset"
    print(f"\n== {cfg.name}: {cfg.model.name.value} on {kind} ({tasks}) ==", flush=True)
    fitted = fit(cfg, address=address, parent_run_id=parent, fresh=True)
    scores = {split: score_stream(cfg, fitted, split) for split in splits}
    test, *others = scores["test"]
    other_tests = dict(zip(cfg.multitask.names[1:] if others else (), others, strict=True))
    metrics = {"test/hit1_25x10": test.accuracy(), "test/num_videos": float(len(test.video_ids))}
    for name, scores_of in other_tests.items():
        metrics[f"test/{name}/hit1_25x10"] = scores_of.accuracy()
        metrics[f"test/{name}/num_videos"] = float(len(scores_of.video_ids))
    track.RunLogger(fitted.tracking_uri, fitted.run_id).metrics(
        metrics, step=cfg.optim.num_epochs - 1)
    heads = "".join(f", {name} on its own head {s.accuracy():.3f}"
                    for name, s in other_tests.items())
    print(f"[{cfg.name}] test video hit@1 with 25 x 10 views: {test.accuracy():.3f}{heads}",
          flush=True)
    return StreamResult(cfg.name, fitted, test, scores["train"][0] if "train" in scores else None,
                        other_tests)


def run_two_stream(cfg: ExperimentConfig, *, address: str | None = None) -> TwoStreamResult:
    """Both streams, their variants and both fusions under one MLflow parent run."""
    start = time.perf_counter()
    spatial_cfg, temporal_cfg, variant_cfgs = plan_streams(cfg)
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
        svm = _svm(cfg, spatial, temporal)
        variant_splits = both if cfg.two_stream.variant_svm else ("test",)
        variants = []
        for overrides, variant_cfg in zip(cfg.two_stream.temporal_variants, variant_cfgs,
                                          strict=True):
            result = _train_and_score(variant_cfg, parent=parent, address=address,
                                      splits=variant_splits)
            variants.append(VariantResult(
                variant_name(overrides), result, average(spatial.test, result.test).accuracy(),
                _svm(cfg, spatial, result).accuracy() if result.train is not None else None))
        metrics = {
            "test/spatial_hit1": spatial.test.accuracy(),
            "test/temporal_hit1": temporal.test.accuracy(),
            "test/fused_average_hit1": averaged.accuracy(),
            "test/fused_svm_hit1": svm.accuracy(),
            "test/num_videos": float(len(averaged.video_ids)),
        }
        metrics.update(_other_tests("temporal", temporal))
        for i, v in enumerate(variants):
            metrics[f"test/variant{i}_temporal_hit1"] = v.stream.test.accuracy()
            metrics[f"test/variant{i}_fused_average_hit1"] = v.average
            if v.svm is not None:
                metrics[f"test/variant{i}_fused_svm_hit1"] = v.svm
            metrics.update(_other_tests(f"variant{i}", v.stream))
        track.RunLogger(uri, parent).metrics(metrics, step=0)
    except BaseException:
        track.end_run(uri, parent, ok=False)
        raise
    track.end_run(uri, parent, ok=True)
    return TwoStreamResult(parent, uri, spatial, temporal, variants, metrics,
                           time.perf_counter() - start)


def _svm(cfg: ExperimentConfig, spatial: StreamResult, temporal: StreamResult) -> VideoScores:
    """Test scores of the linear SVM fitted on the two streams' train-split scores."""
    return SvmFusion.fit(spatial.train, temporal.train, c=cfg.two_stream.svm_c,
                         seed=cfg.seed).predict(spatial.test, temporal.test)


def _other_tests(stream: str, result: StreamResult) -> dict[str, float]:
    """A multi-task stream's other datasets' test hit@1, e.g. test/temporal_hmdb51_hit1."""
    return {f"test/{stream}_{name}_hit1": scores.accuracy()
            for name, scores in result.other_tests.items()}
