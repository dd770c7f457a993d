"""Every experiment file loads, in full and smoke form, into a valid config of known models."""

import pytest

from raylab import experiments
from raylab.config import ExperimentConfig
from raylab.models.build import MODELS
from raylab.tune.space import grid_points


@pytest.mark.parametrize("name", experiments.available())
@pytest.mark.parametrize("smoke", [False, True])
def test_experiment_loads(name, smoke):
    cfg = experiments.load(name, smoke=smoke)
    assert isinstance(cfg, ExperimentConfig)
    assert cfg.model.name in MODELS
    for point in grid_points(cfg):
        assert experiments.load(name, smoke=smoke, overrides={
            k: str(v) for k, v in point.items()}).model.name in MODELS


def test_experiments_are_found():
    assert {"karpathy_fusion", "karpathy_table", "karpathy_transfer", "alexnet_digits"} <= set(
        experiments.available())


@pytest.mark.slow
def test_ensure_flow_makes_the_synthetic_hmdb51_flow_beside_the_demo_flow(
        ray_session, tiny_flow_shards, tmp_path, monkeypatch):
    import shutil

    from raylab.config import apply_overrides
    from raylab.data.flow_shards import read_flow_manifest
    from raylab.data.sources.synthetic import SyntheticSpec

    # A smaller HMDB-51 set than the experiments' (8 videos); the demo flow is the fixture's.
    monkeypatch.setattr(experiments, "DEMO_HMDB51_SPEC", SyntheticSpec(
        shapes=("Triangle",), directions=("Left", "Right"), num_groups=4, num_frames=12))
    shutil.copytree(tiny_flow_shards, tmp_path / "demo" / "flow")
    cfg = apply_overrides(experiments.load("two_stream_multitask", smoke=True), {
        "workdir": str(tmp_path), "temporal.flow_shards_dir": str(tmp_path / "demo" / "flow"),
        "multitask.enabled": "true"})
    made = experiments.ensure_flow(cfg, progress=lambda _: None)
    flow = tmp_path / "demo_hmdb51" / "flow"
    assert made.multitask.flow_shards_dir == str(flow)
    manifest = read_flow_manifest(flow)
    assert manifest["classes"] == ["triangle_left", "triangle_right"]
    assert manifest["splits"] == {"train": 4, "test": 2}  # split 1: 1 group tested, 1 unused
    written = (flow / "manifest.json").stat().st_mtime_ns
    assert experiments.ensure_flow(cfg, progress=lambda _: None) == made  # found, not made again
    assert (flow / "manifest.json").stat().st_mtime_ns == written
