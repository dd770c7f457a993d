"""Static checks of the deployment files in cluster/ and dashboards/ (no cloud, no cluster)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "cluster"
DASH = ROOT / "dashboards"
LAUNCHER_FILES = ["aws.yaml", "gcp.yaml"]
RAY_IMAGE = "rayproject/ray:2.60.0-gpu"
SD_FILE = "/tmp/ray/prom_metrics_service_discovery.json"
DS_REFS = {"$datasource", "${datasource}"}

# Paths an excludes list must drop / must keep (gitignore semantics, as Ray applies them).
MUST_EXCLUDE = [".git/config", "work/run1/ckpt.pt", "data/ucf101/v.avi", ".venv/bin/python"]
MUST_KEEP = [
    "raylab/data/columns.py",
    "raylab/data/sources/ucf101.py",
    "jobs/train.py",
    "pyproject.toml",
]


def _load(path: Path):
    return yaml.safe_load(path.read_text())


def _launcher(name: str) -> dict:
    return _load(CLUSTER / name)


def _commands(cfg: dict, key: str) -> str:
    return "\n".join(cfg.get(key) or [])


def _pathspec(patterns):
    try:
        from ray._private.runtime_env.packaging import PathSpec
    except ImportError:  # pragma: no cover - ray is a project dependency
        pytest.skip("ray not installed")
    return PathSpec.from_lines("gitwildmatch", patterns)


def _check_runtime_env_excludes(excludes):
    spec = _pathspec(excludes)
    for p in MUST_EXCLUDE:
        assert spec.match_file(p), f"excludes {excludes} keep {p}"
    for p in MUST_KEEP:
        assert not spec.match_file(p), f"excludes {excludes} drop {p} (anchor patterns with '/')"
    for e in excludes:  # top-level dirs only: "work" would also drop any nested work/ dir
        if e.strip("/") in ("work", "data"):
            assert e.startswith("/"), f"anchor {e!r} as '/{e.strip('/')}'"


# ---------------------------------------------------------------- every YAML in cluster/


def test_every_cluster_yaml_parses_and_is_known_kind():
    files = sorted(CLUSTER.rglob("*.yaml")) + sorted(CLUSTER.rglob("*.yml"))
    assert {f.name for f in files} >= {"aws.yaml", "gcp.yaml", "raycluster.yaml", "rayjob.yaml"}
    for f in files:
        docs = [d for d in yaml.safe_load_all(f.read_text()) if d is not None]
        assert docs, f"{f} is empty"
        for doc in docs:
            assert isinstance(doc, dict), f
            if "apiVersion" in doc:
                assert doc["apiVersion"] == "ray.io/v1", f
                assert doc.get("kind") in {"RayCluster", "RayJob", "RayService"}, f
                assert doc.get("metadata", {}).get("name"), f
            else:
                for key in ("cluster_name", "provider", "available_node_types", "head_node_type"):
                    assert key in doc, f"{f}: missing {key}"


# ---------------------------------------------------------------- launcher configs


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_structure(name):
    cfg = _launcher(name)
    assert cfg["provider"]["type"] == name.split(".")[0]
    types = cfg["available_node_types"]
    assert cfg["head_node_type"] in types
    assert cfg["docker"]["image"] == RAY_IMAGE
    workers = {k: v for k, v in types.items() if k != cfg["head_node_type"]}
    gpu = [v for v in workers.values() if v.get("resources", {}).get("GPU", 0) >= 1]
    assert gpu, "no GPU worker node type"
    for node in gpu:
        assert node["min_workers"] == 0
        assert node["max_workers"] >= 1
    assert cfg["max_workers"] >= max(n["max_workers"] for n in gpu)


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_validates_against_ray(name):
    util = pytest.importorskip("ray.autoscaler._private.util")
    cfg = _launcher(name)
    util.validate_config(cfg)  # Ray's JSON schema
    util.validate_config(util.prepare_config(cfg))  # defaults filled, node types resolved


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_rsync_exclude(name):
    excl = _launcher(name)["rsync_exclude"]
    assert ".git" in excl
    for d in ("work", "data", ".venv"):
        assert any(e.strip("/") == d for e in excl), f"{d} not excluded"
        # rsync: an unanchored "data" would also drop the source package raylab/data/
        assert all(e.rstrip("/") != d for e in excl), f"'{d}' must be anchored as '/{d}/'"


@pytest.mark.parametrize("name", LAUNCHER_FILES)
def test_launcher_setup_and_start(name):
    cfg = _launcher(name)
    assert cfg["file_mounts"].get("/home/ray/raylab") == "."
    assert "~/.ray/auth_token" in cfg["file_mounts"]
    setup = _commands(cfg, "setup_commands")
    assert "apt-get install -y" in setup and "ffmpeg" in setup
    assert "pip install" in setup and "-e ." in setup
    assert "--env RAY_AUTH_MODE=token" in cfg["docker"]["run_options"]

    head = _commands(cfg, "head_start_ray_commands")
    assert "ray start --head" in head
    assert "--metrics-export-port=8080" in head
    assert "--dashboard-host=0.0.0.0" in head
    assert "--metrics-export-port=8080" in _commands(cfg, "worker_start_ray_commands")

    mlflow = next(c for c in cfg["head_start_ray_commands"] if "mlflow server" in c)
    server = mlflow[mlflow.index("mlflow server") :]
    opts = dict(re.findall(r"(--[\w-]+)\s+(\"[^\"]*\"|[^\s'\"]+)", server))
    opts = {k: v.strip('"') for k, v in opts.items()}
    assert opts["--port"] == "5000"
    assert opts["--backend-store-uri"] == "sqlite:////home/ray/mlflow/mlflow.db"
    assert opts["--artifacts-destination"].startswith(("s3://", "gs://"))
    assert "YOUR-BUCKET" in opts["--artifacts-destination"]
    assert opts["--allowed-hosts"]
    # No unauthenticated MLflow on every interface (RELIABILITY.md T14).
    assert opts["--host"] != "0.0.0.0"


# ---------------------------------------------------------------- KubeRay


def _k8s(name: str) -> dict:
    return _load(CLUSTER / "kuberay" / name)


def _check_cluster_spec(spec: dict):
    assert spec["authOptions"]["mode"] == "token"
    assert spec["enableInTreeAutoscaling"] is True
    assert spec["rayVersion"] == "2.60.0"
    assert spec["headGroupSpec"]["rayStartParams"]["metrics-export-port"] == "8080"
    groups = spec["workerGroupSpecs"]
    gpu = [
        g
        for g in groups
        if any(
            int(c["resources"]["limits"].get("nvidia.com/gpu", 0)) >= 1
            for c in g["template"]["spec"]["containers"]
        )
    ]
    assert gpu, "no worker group with nvidia.com/gpu limits"
    for g in gpu:
        assert 0 <= g["minReplicas"] <= g["replicas"] <= g["maxReplicas"]
        assert g["maxReplicas"] >= 1


def test_raycluster():
    doc = _k8s("raycluster.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayCluster")
    _check_cluster_spec(doc["spec"])


def test_rayjob():
    doc = _k8s("rayjob.yaml")
    assert (doc["apiVersion"], doc["kind"]) == ("ray.io/v1", "RayJob")
    spec = doc["spec"]
    assert spec["entrypoint"] == "python jobs/train.py karpathy_fusion"
    assert spec["shutdownAfterJobFinishes"] is True
    assert isinstance(spec["ttlSecondsAfterFinished"], int) and spec["ttlSecondsAfterFinished"] > 0
    env = yaml.safe_load(spec["runtimeEnvYAML"])
    assert env["working_dir"]
    assert env["env_vars"]["MLFLOW_TRACKING_URI"].startswith("http")
    _check_runtime_env_excludes(env["excludes"])
    _check_cluster_spec(spec["rayClusterSpec"])


def test_readme_submit_command_excludes():
    text = (CLUSTER / "README.md").read_text()
    blobs = re.findall(r"--runtime-env-json '(\{.*?\})'", text)
    assert blobs, "README has no --runtime-env-json example"
    for blob in blobs:
        env = json.loads(blob)
        _check_runtime_env_excludes(env["excludes"])
        assert "MLFLOW_TRACKING_URI" in env["env_vars"]
    assert "ray up" in text and "ray job submit" in text and "RAY_AUTH_MODE=token" in text


def test_dockerfile():
    text = (CLUSTER / "Dockerfile").read_text()
    assert re.search(rf"^FROM {re.escape(RAY_IMAGE)}\s*$", text, re.M)
    assert "ffmpeg" in text
    assert "torch==2.14.1" in text and "torchvision==0.29.1" in text
    assert re.search(r"^COPY .*pyproject\.toml", text, re.M)
    assert re.search(r"^COPY .*raylab/ raylab/", text, re.M)
    assert re.search(r"pip install [^\n]*\.(\s|$)", text)


# ---------------------------------------------------------------- Prometheus


def test_prometheus_config():
    cfg = _load(DASH / "prometheus.yml")
    assert cfg["global"]["scrape_interval"] == "10s"
    jobs = cfg["scrape_configs"]
    names = [j["job_name"] for j in jobs]
    assert len(names) == len(set(names))
    ray = next(j for j in jobs if j["job_name"] == "ray")
    files = [f for sd in ray["file_sd_configs"] for f in sd["files"]]
    assert SD_FILE in files


# ---------------------------------------------------------------- Grafana


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads((DASH / "raylab_training.json").read_text())


def _ds_ref(ds) -> str:
    return ds["uid"] if isinstance(ds, dict) else ds


def test_dashboard_variables(dashboard):
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    ds = variables["datasource"]
    assert (ds["type"], ds["query"]) == ("datasource", "prometheus")
    for v in variables.values():
        if "datasource" in v and v["type"] != "datasource":
            assert _ds_ref(v["datasource"]) in DS_REFS


def test_dashboard_panels(dashboard):
    panels = dashboard["panels"]
    assert len(panels) >= 10
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    for p in panels:
        assert p["title"]
        assert _ds_ref(p["datasource"]) in DS_REFS, p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            expr = t["expr"].strip()
            assert expr, p["title"]
            assert _ds_ref(t["datasource"]) in DS_REFS, p["title"]
            for a, b in ("()", "{}", "[]"):
                assert expr.count(a) == expr.count(b), f"unbalanced {a}{b}: {expr}"
            for var in re.findall(r"\$(\w+)", expr):
                assert var in variables or var.startswith("__"), f"undefined ${var}"


def _exprs(dashboard) -> str:
    return "\n".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])


def test_dashboard_covers_required_metrics(dashboard):
    exprs = _exprs(dashboard)
    for metric in (
        "ray_raylab_train_clips_per_second",
        "ray_raylab_train_epoch",
        "ray_raylab_data_decode_failures_total",
        "ray_object_store_memory",
        "ray_node_gpus_utilization",
        "ray_node_gram_used",
        "ray_component_cpu_percentage",
        "ray_data_output_bytes",
        "ray_data_task_submission_backpressure_time",
    ):
        assert re.search(rf"\b{metric}\b", exprs), metric
    # ray.util.metrics exports "raylab_x" as "ray_raylab_x": an unprefixed name never matches.
    assert not re.search(r"(?<!ray_)\braylab_\w+", exprs)
    assert 'run=~"$run"' in exprs


def test_dashboard_ray_metric_names_exist_in_ray():
    """Every built-in ray_* metric used is one Ray's own 2.60 dashboards query."""
    ray = pytest.importorskip("ray")
    src = Path(ray.__file__).parent / "dashboard" / "modules" / "metrics" / "dashboards"
    known = set(re.findall(r"\bray_\w+", "".join(f.read_text() for f in src.glob("*.py"))))
    dash = json.loads((DASH / "raylab_training.json").read_text())
    used = set(re.findall(r"\bray_\w+", _exprs(dash))) - {
        m for m in re.findall(r"\bray_\w+", _exprs(dash)) if m.startswith("ray_raylab_")
    }
    assert used and used <= known, sorted(used - known)
