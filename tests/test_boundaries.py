"""Ray at the edges: which modules may import ray.data, ray.train and mlflow.

(import-linter's layer and MLflow contracts run in `make lint`; it cannot name a subpackage of
an external package such as ray.data, so those two rules are checked here on the source.)
"""

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "raylab"


def _importers(pattern: str) -> set[str]:
    rx = re.compile(pattern, re.MULTILINE)
    return {str(p.relative_to(PACKAGE.parent)) for p in PACKAGE.rglob("*.py")
            if rx.search(p.read_text())}


def test_only_the_ray_data_jobs_import_ray_data():
    # The training input pipeline, the part-writing job of every ingest (videos and images)
    # and the optical-flow job.
    assert _importers(r"^\s*(import ray\.data|from ray\.data)") == {
        "raylab/data/pipeline.py", "raylab/data/part_job.py", "raylab/data/flow_job.py"}


def test_only_worker_and_trainer_import_ray_train():
    assert _importers(r"^\s*(import ray\.train|from ray\.train)") == {
        "raylab/train/worker.py", "raylab/train/trainer.py"}


def test_only_the_tracking_module_imports_mlflow():
    assert _importers(r"^\s*(import mlflow|from mlflow)") == {"raylab/track/mlflow.py"}
