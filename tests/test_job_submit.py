"""`ray job submit ... -- python jobs/train.py` against a Ray head this test starts on loopback.

The head runs in its own temp dir on free loopback ports with `--block`, so stopping it (SIGTERM
to that process) never touches the test session's own Ray. Ray 2.60 turns token auth on for
`ray start --head`: an unauthenticated request must get 401, the token-bearing CLI must work.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from raylab.track import mlflow as track

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    temp = tempfile.mkdtemp(prefix="rlhead", dir="/tmp")  # short: Ray's socket paths are capped
    dashboard = _free_port()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    ports = {flag: str(_free_port()) for flag in (
        "--port", "--ray-client-server-port", "--dashboard-agent-listen-port",
        "--dashboard-agent-grpc-port", "--metrics-export-port", "--runtime-env-agent-port",
        "--node-manager-port", "--object-manager-port")}
    cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
           "--node-ip-address", "127.0.0.1", "--dashboard-host", "127.0.0.1",
           "--dashboard-port", str(dashboard), "--num-cpus", "4", "--temp-dir", temp,
           "--min-worker-port", "21000", "--max-worker-port", "21999",
           *[x for kv in ports.items() for x in kv]]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    url = f"http://127.0.0.1:{dashboard}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/api/version", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # it answers (even 401): up
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("ray head did not come up")
    yield url, env
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    shutil.rmtree(temp, ignore_errors=True)


def test_unauthenticated_request_is_refused(ray_head):
    url, _ = ray_head
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(url + "/api/jobs/", timeout=10)
    assert err.value.code == 401


def test_job_submit_trains_like_raylab_train(ray_head, tiny_shards, tmp_path):
    url, env = ray_head
    env = {**env, "RAY_AUTH_MODE": "token"}
    cmd = ["ray", "job", "submit", "--address", url, "--working-dir", str(REPO), "--",
           "python", "jobs/train.py", "karpathy_fusion", "--smoke",
           "--set", f"data.shards_dir={tiny_shards}", "--set", f"workdir={tmp_path}",
           "--set", "name=job-e2e"]
    out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-3000:]
    assert "succeeded" in log.lower()
    assert "video hit@1" in log
    uri = track.tracking_uri("", tmp_path)
    exp = track.ensure_experiment(uri, "karpathy_fusion_smoke", tmp_path)
    assert track.run_statuses(uri, exp, run_key="job-e2e") == ["FINISHED"]
