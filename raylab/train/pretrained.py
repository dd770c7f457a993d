"""Where pre-trained weights come from: `transfer.init_from` -> a local state_dict file.

Accepted, in this order: an MLflow `runs:/` or `models:/` URI, or a bare 32-hex MLflow run id
(its `best_checkpoint` artifact), downloaded through raylab.track.mlflow; a raylab checkpoint
directory (model.pt); a Ray Train run directory (the checkpoint_* with the most epochs); a
directory holding one .pt/.pth file; a .pt file (raylab or torchvision state_dict). The driver
resolves once (downloads land under the work dir, shared storage on a cluster); workers load the
resolved file. Freezing and head re-init are `raylab.models.finetune`'s job.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

import torch

from raylab.config import ConfigError
from raylab.track import mlflow as track
from raylab.train import checkpoint as ckpt

BEST_CHECKPOINT = "best_checkpoint"  # the artifact path the worker logs the best epoch under
_RUN_ID = re.compile(r"[0-9a-f]{32}")
_KEY = "transfer.init_from"


def resolve(init_from: str, *, tracking_uri: str, download_dir: Path) -> Path:
    """The local state_dict file `init_from` names (downloading MLflow artifacts first)."""
    if init_from.startswith(("runs:/", "models:/")) or (
            _RUN_ID.fullmatch(init_from) and not Path(init_from).exists()):
        uri = init_from if ":/" in init_from else f"runs:/{init_from}/{BEST_CHECKPOINT}"
        target = download_dir / re.sub(r"[^A-Za-z0-9_.-]+", "_", uri)
        try:
            local = track.download(tracking_uri, uri, target)
        except ValueError as err:
            raise ConfigError(f"{_KEY}: {err}") from None
        return _state_file(local, init_from)
    path = Path(init_from).resolve()  # workers do not share the driver's working directory
    if not path.exists():
        raise ConfigError(f"{_KEY}: {init_from} does not exist (expected a checkpoint dir, a "
                          ".pt file, an MLflow run id or a runs:/ or models:/ URI)")
    return _state_file(path, init_from)


def _state_file(path: Path, given: str) -> Path:
    if path.is_file():
        return path
    if (path / ckpt.MODEL_FILE).is_file():
        return path / ckpt.MODEL_FILE
    checkpoints = [d for d in path.glob("checkpoint_*") if (d / ckpt.STATE_FILE).is_file()]
    if checkpoints:
        return max(checkpoints, key=_epochs_in) / ckpt.MODEL_FILE
    files = sorted([*path.glob("*.pt"), *path.glob("*.pth")])
    if len(files) == 1:
        return files[0]
    raise ConfigError(f"{_KEY}: {given} holds no {ckpt.MODEL_FILE}, no checkpoint_* dirs and "
                      f"not exactly one .pt file (found {len(files)})")


def _epochs_in(checkpoint: Path) -> int:
    return int(json.loads((checkpoint / ckpt.STATE_FILE).read_text())["next_epoch"])


def load_state(path: Path) -> Mapping[str, torch.Tensor]:
    """The state_dict in `path`; weights_only, so a file from elsewhere cannot run code."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a corrupt or non-torch file: say which, in one line
        first = (str(err).splitlines() or [""])[0][:200]
        raise ConfigError(f"{_KEY}: {path} is not a readable torch state_dict "
                          f"({type(err).__name__}: {first})") from None
    if not isinstance(state, Mapping) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ConfigError(f"{_KEY}: {path} holds a {type(state).__name__}, expected a "
                          "state_dict (a mapping of tensor names to tensors)")
    return state
