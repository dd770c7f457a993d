"""Find and load experiment files: `jobs/experiments/<name>.py` with `config()` and `smoke()`.

An experiment is code returning an `ExperimentConfig` (config is code, not YAML), so a user can
jump from its name straight to the file. Looked up under ./jobs/experiments, then beside the
installed package; a path to a .py file works too. `ensure_data` fills the embedded default
dataset (`data.synthetic`: moving shapes in UCF-101's or HMDB-51's layout, or the digits in
ILSVRC-2012's) under the work dir when `data.shards_dir` is empty, and `ensure_flow` its optical
flow (`raylab flow`) when `temporal.flow_shards_dir` is empty, and a multi-task run's second
dataset (the synthetic HMDB-51 set's flow) when `multitask.flow_shards_dir` is empty.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable
from pathlib import Path

from raylab.config import (
    ConfigError,
    ExperimentConfig,
    FlowConfig,
    FlowMethod,
    SyntheticData,
    apply_overrides,
)
from raylab.data import columns as C
from raylab.data.image_ingest import ingest_imagenet
from raylab.data.ingest import ingest_hmdb51, ingest_ucf101
from raylab.data.sources.synthetic import SyntheticSpec, write_hmdb51, write_ucf101
from raylab.data.sources.synthetic_images import write_digits_imagenet

_SEARCH = (Path.cwd() / "jobs" / "experiments",
           Path(__file__).resolve().parents[1] / "jobs" / "experiments")


def available() -> list[str]:
    names: set[str] = set()
    for d in _SEARCH:
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.py") if not p.stem.startswith("_"))
    return sorted(names)


def load(name: str, *, smoke: bool = False, overrides: dict[str, str] | None = None
         ) -> ExperimentConfig:
    """The experiment's config (or its smoke variant) with validated overrides applied."""
    path = Path(name)
    if path.suffix != ".py":
        found = [d / f"{name}.py" for d in _SEARCH if (d / f"{name}.py").is_file()]
        if not found:
            known = ", ".join(available())
            raise ConfigError(f"experiment {name!r}: not found (available: {known})")
        path = found[0]
    elif not path.is_file():
        raise ConfigError(f"experiment {name}: file does not exist")
    spec = importlib.util.spec_from_file_location(f"raylab_experiment_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn_name = "smoke" if smoke else "config"
    fn = getattr(module, fn_name, None)
    if fn is None:
        raise ConfigError(f"experiment {path}: expected a function {fn_name}() returning a config")
    cfg = fn()
    if not isinstance(cfg, ExperimentConfig):
        raise ConfigError(f"experiment {path}: {fn_name}() returned {type(cfg).__name__}, "
                          "expected ExperimentConfig")
    return apply_overrides(cfg, overrides or {})


# 24 frames at 7 px/frame: ~2 px of motion per frame after the demo's resize to 72 px, enough for
# conv1's 4-frame window; shorter videos also decode faster.
DEMO_SPEC = SyntheticSpec(num_frames=24, speed_px_per_frame=7.0)
# The multi-task net's second dataset: other shapes (other "actions") making the same four motions,
# which is what its trunk can learn from both. 10 groups: split 1 tests 3, leaves 1 unused and
# trains on 6 (HMDB-51's 70/30 split), 80 videos against the demo set's 200.
DEMO_HMDB51_SPEC = SyntheticSpec(shapes=("Triangle", "Ring"), num_groups=10, num_frames=24,
                                 speed_px_per_frame=7.0, seed=1)


def _make_ucf101_motion(cfg: ExperimentConfig, raw: Path, shards: Path, progress) -> None:
    progress(f"demo data: writing a synthetic UCF-101-layout dataset to {raw}")
    write_ucf101(raw, DEMO_SPEC)
    ingest_ucf101(raw, 1, shards, progress=progress)


def _make_hmdb51_motion(cfg: ExperimentConfig, raw: Path, shards: Path, progress) -> None:
    progress(f"demo data: writing a synthetic HMDB-51-layout dataset to {raw}")
    write_hmdb51(raw, DEMO_HMDB51_SPEC)
    ingest_hmdb51(raw, 1, shards, progress=progress)


def _make_imagenet_digits(cfg: ExperimentConfig, raw: Path, shards: Path, progress) -> None:
    progress(f"demo data: writing scikit-learn's digits in ILSVRC-2012's layout to {raw}")
    write_digits_imagenet(raw)
    # Pixel statistics at the experiment's own resize: the mean image needs no resampling.
    ingest_imagenet(raw, shards, resize_px=cfg.data.resize_px, progress=progress)


# Folder under the work dir and maker of each synthetic dataset.
SYNTHETIC: dict[SyntheticData, tuple[str, Callable[..., None]]] = {
    SyntheticData.UCF101_MOTION: ("demo", _make_ucf101_motion),
    SyntheticData.IMAGENET_DIGITS: ("digits", _make_imagenet_digits),
    SyntheticData.HMDB51_MOTION: ("demo_hmdb51", _make_hmdb51_motion),
}


def ensure_data(cfg: ExperimentConfig, progress=print) -> ExperimentConfig:
    """cfg with data.shards_dir set; an empty one means cfg.data.synthetic, made if missing."""
    if cfg.data.shards_dir:
        if not (Path(cfg.data.shards_dir) / C.MANIFEST).is_file():
            raise ConfigError(f"data.shards_dir: {cfg.data.shards_dir} has no {C.MANIFEST}; "
                              "write one with `raylab ingest`")
        return cfg
    folder, make = SYNTHETIC[cfg.data.synthetic]
    root = Path(cfg.workdir) / folder
    shards = root / "shards"
    if not (shards / C.MANIFEST).is_file():
        make(cfg, root / "raw", shards, progress)
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, shards_dir=str(shards)))


# DIS, not TV-L1, for the demo: measured here on 85x64 frames, TV-L1 takes ~0.6 s per frame pair
# on a busy core, DIS ~1 ms, and the demo's rigid shapes on smooth backgrounds need no more.
# A 64 px shorter side: the demo nets see 48-56 px crops. The paper's +-20 px bound is for
# 256 px frames; scaled to 64 px it is 5 px, which holds the demo's ~2 px/frame motion.
DEMO_FLOW = FlowConfig(method=FlowMethod.DIS, size_px=64, bound_px=5.0)


def ensure_flow(cfg: ExperimentConfig, progress=print) -> ExperimentConfig:
    """cfg with the flow shards its temporal net reads: temporal.flow_shards_dir (empty = the
    demo set's flow) and with multitask.enabled multitask.flow_shards_dir (empty = the synthetic
    HMDB-51 set's flow, only beside the demo set's); synthetic sets and flow made if missing."""
    demo = Path(cfg.workdir) / SYNTHETIC[SyntheticData.UCF101_MOTION][0]
    flow = _given_flow("temporal.flow_shards_dir", cfg.temporal.flow_shards_dir)
    if not flow:
        if Path(cfg.data.shards_dir).resolve() != (demo / "shards").resolve():
            raise ConfigError("temporal.flow_shards_dir: empty, and data.shards_dir is not the "
                              "demo set; compute flow with `raylab flow --shards DIR --out FLOW` "
                              "and set temporal.flow_shards_dir=FLOW")
        flow = _synthetic_flow(cfg, demo, progress)
    cfg = dataclasses.replace(cfg, temporal=dataclasses.replace(cfg.temporal, flow_shards_dir=flow))
    if not cfg.multitask.enabled:
        return cfg
    second = _given_flow("multitask.flow_shards_dir", cfg.multitask.flow_shards_dir)
    if not second:
        # Synthetic HMDB-51 beside real UCF-101 would be a meaningless second task.
        if Path(flow).resolve() != (demo / "flow").resolve():
            raise ConfigError("multitask.flow_shards_dir: empty, and temporal.flow_shards_dir is "
                              "not the demo set's flow; compute the second dataset's flow with "
                              "`raylab flow` and set multitask.flow_shards_dir=FLOW")
        hmdb = ensure_data(dataclasses.replace(cfg, data=dataclasses.replace(
            cfg.data, shards_dir="", synthetic=SyntheticData.HMDB51_MOTION)), progress)
        second = _synthetic_flow(cfg, Path(hmdb.data.shards_dir).parent, progress)
    return dataclasses.replace(
        cfg, multitask=dataclasses.replace(cfg.multitask, flow_shards_dir=second))


def _given_flow(key: str, flow_dir: str) -> str:
    """flow_dir ("" stays ""), checked for the manifest `raylab flow` writes last."""
    if flow_dir and not (Path(flow_dir) / C.MANIFEST).is_file():
        raise ConfigError(f"{key}: {flow_dir} has no {C.MANIFEST}; write one with `raylab flow`")
    return flow_dir


def _synthetic_flow(cfg: ExperimentConfig, root: Path, progress) -> str:
    """ROOT/flow from a synthetic set's ROOT/shards, computed (DEMO_FLOW) if missing."""
    from raylab.data.flow_job import run_flow  # Ray Data job: loaded only when flow is needed

    flow = root / "flow"
    if not (flow / C.MANIFEST).is_file():
        progress(f"demo data: computing optical flow ({DEMO_FLOW.method.value}) into {flow}")
        run_flow(root / "shards", flow, DEMO_FLOW, workers=cfg.scale.num_workers,
                 progress=progress)
    return str(flow)
