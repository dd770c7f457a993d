"""transfer.init_from -> a state_dict file: checkpoint dirs, Ray Train run dirs, .pt, MLflow."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from raylab.config import ConfigError, ModelConfig, ModelName, OptimConfig
from raylab.models.build import build_model
from raylab.track import mlflow as track
from raylab.train import checkpoint as ckpt
from raylab.train.optim import make_optimizer
from raylab.train.pretrained import load_state, resolve


def _model(seed: int):
    torch.manual_seed(seed)
    return build_model(ModelConfig(name=ModelName.SINGLE_FRAME, width_mult=0.125),
                       num_classes=3, crop_px=32)


def _save_checkpoint(directory: Path, seed: int, next_epoch: int):
    model = _model(seed)
    ckpt.save(directory, model, make_optimizer(model, OptimConfig()),
              ckpt.TrainState(next_epoch=next_epoch))
    return model


def _same(model, state) -> bool:
    return all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_checkpoint_dir_and_ray_run_dir_resolve_to_the_latest_model(tmp_path):
    run = tmp_path / "ray_results" / "pretrain"
    _save_checkpoint(run / "checkpoint_2026-01-01_00-00-02", seed=1, next_epoch=2)
    latest = _save_checkpoint(run / "checkpoint_2026-01-01_00-00-01", seed=2, next_epoch=3)
    (run / "raylab_progress.json").write_text("{}")
    # the most trained checkpoint wins, whatever its directory name sorts as
    for given in (run, run / "checkpoint_2026-01-01_00-00-01"):
        path = resolve(str(given), tracking_uri="", download_dir=tmp_path / "dl")
        assert _same(latest, load_state(path))


def test_plain_state_dict_file_and_bad_sources_are_one_line_errors(tmp_path):
    model = _model(4)
    torch.save(model.state_dict(), tmp_path / "w.pt")
    assert _same(model, load_state(resolve(str(tmp_path / "w.pt"), tracking_uri="",
                                           download_dir=tmp_path)))
    with pytest.raises(ConfigError, match="transfer.init_from: .*nothing does not exist"):
        resolve(str(tmp_path / "nothing"), tracking_uri="", download_dir=tmp_path)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file")
    with pytest.raises(ConfigError, match="junk.pt is not a readable torch state_dict"):
        load_state(tmp_path / "junk.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ConfigError, match="holds a list, expected a state_dict"):
        load_state(tmp_path / "list.pt")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(ConfigError, match="holds no model.pt"):
        resolve(str(empty), tracking_uri="", download_dir=tmp_path)


def test_mlflow_run_id_runs_uri_and_registered_model_download_the_checkpoint(tmp_path):
    from mlflow.tracking import MlflowClient  # test-side only: checks the store raylab wrote

    uri = track.tracking_uri("", tmp_path)
    exp = track.ensure_experiment(uri, "pretrain", tmp_path)
    run_id = track.open_run(uri, exp, run_key="p", run_name="p", params={})
    model = _save_checkpoint(tmp_path / "best", seed=5, next_epoch=1)
    track.RunLogger(uri, run_id).artifact(tmp_path / "best", "best_checkpoint")
    track.end_run(uri, run_id, ok=True)
    client = MlflowClient(uri, registry_uri=uri)
    client.create_registered_model("pretrained-net")
    client.create_model_version("pretrained-net", f"runs:/{run_id}/best_checkpoint", run_id)
    for given in (run_id, f"runs:/{run_id}/best_checkpoint", "models:/pretrained-net/1"):
        path = resolve(given, tracking_uri=uri, download_dir=tmp_path / "downloads")
        assert str(path).startswith(str(tmp_path / "downloads"))
        assert _same(model, load_state(path)), given
    with pytest.raises(ConfigError, match="transfer.init_from: runs:/0{32}/best_checkpoint: not "
                                          "found in the MLflow store"):
        resolve("0" * 32, tracking_uri=uri, download_dir=tmp_path / "downloads")
