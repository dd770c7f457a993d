"""Dense optical flow between two RGB frames: OpenCV TV-L1, Farneback and DIS, torchvision RAFT.

Every method returns float32 (H, W, 2) displacement in pixels from `prev` to `next`: channel 0 is
x (right), channel 1 is y (down), so the content at p in `prev` is at p + flow[p] in `next`.
Build a `FlowEstimator` once per process (RAFT loads its weights there) and call it per pair or
per video. This module does not decode video (decode.py) nor store flow (flow_shards.py).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from raylab.config import ConfigError, FlowMethod

PairFn = Callable[[np.ndarray, np.ndarray], np.ndarray]
# RAFT pairs per forward pass: 8 pairs at 256x341 fit a few GiB of GPU memory.
_RAFT_BATCH_PAIRS = 8
# torchvision's RAFT pools its 1/8-scale correlation volume 3 times: 8 * 2**4 px at the least.
_RAFT_MIN_PX = 128


def _gray(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _tvl1(_raft_weights: str) -> PairFn:
    # OpenCV's defaults (5 scales of 0.8, 5 warps, lambda 0.15, median filter 5) are those the
    # common two-stream flow dumps (dense_flow) run with.
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    return lambda prev, nxt: tvl1.calc(_gray(prev), _gray(nxt), None)


def _farneback(_raft_weights: str) -> PairFn:
    # OpenCV tutorial settings: 3-level pyramid of 0.5, 15 px window, 3 iterations, poly_n 5.
    return lambda prev, nxt: cv2.calcOpticalFlowFarneback(
        _gray(prev), _gray(nxt), None, 0.5, 3, 15, 3, 5, 1.2, 0)


def _dis(_raft_weights: str) -> PairFn:
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    return lambda prev, nxt: dis.calc(_gray(prev), _gray(nxt), None)


class _Raft:
    """torchvision RAFT from a local state_dict; inputs padded to multiples of 8 (its 1/8-scale
    correlation volume), outputs cropped back."""

    def __init__(self, method: FlowMethod, weights: str) -> None:
        import torch
        from torchvision.models import optical_flow

        if not weights:
            raise ConfigError(f"flow.raft_weights: method {method} needs a local RAFT state_dict "
                              f"file (.pth); nothing is downloaded")
        path = Path(weights)
        if not path.is_file():
            raise ConfigError(f"flow.raft_weights: {path} is not a file (expected a torchvision "
                              f"{method} state_dict)")
        build = {FlowMethod.RAFT_SMALL: optical_flow.raft_small,
                 FlowMethod.RAFT_LARGE: optical_flow.raft_large}[method]
        model = build(weights=None, progress=False)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            model.load_state_dict(state.get("model", state) if isinstance(state, dict) else state)
        except (RuntimeError, OSError, ValueError, KeyError, TypeError,
                pickle.UnpicklingError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ConfigError(f"flow.raft_weights: {path} is not a {method} state_dict "
                              f"({first})") from None
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = model.eval().to(self.device)
        self.torch = torch

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        return self.batch(prev[None], nxt[None])[0]

    def batch(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 pairs -> (B, H, W, 2) float32 flow."""
        torch = self.torch
        h, w = prev.shape[1:3]
        if min(h, w) < _RAFT_MIN_PX:
            raise ValueError(f"flow: RAFT needs frames of at least {_RAFT_MIN_PX} px on each "
                             f"side (its correlation pyramid), got {h}x{w}")
        pad_h, pad_w = -h % 8, -w % 8

        def tensor(x: np.ndarray):
            t = torch.from_numpy(np.ascontiguousarray(x)).to(self.device)
            t = t.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # RAFT expects [-1, 1]
            # Replicated edges, not zeros: a black border would look like a moving edge.
            return torch.nn.functional.pad(t, (0, pad_w, 0, pad_h), mode="replicate")

        with torch.inference_mode():
            flow = self.model(tensor(prev), tensor(nxt))[-1]  # the last refinement is the output
        return flow[:, :, :h, :w].permute(0, 2, 3, 1).float().cpu().numpy()


# The explicit table of methods: each builds its pair function once (an OpenCV object or a
# network), given the RAFT weights file (which only the RAFT builders read).
_BUILDERS: dict[FlowMethod, Callable[[str], PairFn]] = {
    FlowMethod.TVL1: _tvl1,
    FlowMethod.FARNEBACK: _farneback,
    FlowMethod.DIS: _dis,
    FlowMethod.RAFT_SMALL: lambda weights: _Raft(FlowMethod.RAFT_SMALL, weights),
    FlowMethod.RAFT_LARGE: lambda weights: _Raft(FlowMethod.RAFT_LARGE, weights),
}


class FlowEstimator:
    """One method, built once; `estimator(prev, next)` for a pair, `.video(frames)` for every
    consecutive pair of a (T, H, W, 3) video (batched on the GPU for RAFT)."""

    def __init__(self, method: FlowMethod | str, *, raft_weights: str = "") -> None:
        try:
            self.method = FlowMethod(method)
        except ValueError:
            choices = ", ".join(m.value for m in FlowMethod)
            raise ConfigError(f"flow.method: expected one of {choices}, got {method!r}") from None
        self._pair = _BUILDERS[self.method](raft_weights)

    def __call__(self, prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
        _check_frames(prev, "prev")
        _check_frames(nxt, "next")
        if prev.shape != nxt.shape:
            raise ValueError(f"flow: prev is {prev.shape} but next is {nxt.shape}; expected "
                             f"frames of one size")
        return np.asarray(self._pair(prev, nxt), dtype=np.float32)

    def video(self, frames: np.ndarray) -> np.ndarray:
        """uint8 (T, H, W, 3) -> float32 (T - 1, H, W, 2): flow i is from frame i to i + 1."""
        frames = np.asarray(frames)
        if frames.ndim != 4 or frames.shape[0] < 2:
            raise ValueError(f"flow: expected uint8 (T >= 2, H, W, 3) frames, got "
                             f"{frames.dtype} {frames.shape}")
        _check_frames(frames[0], "frames")
        if not isinstance(self._pair, _Raft):
            return np.stack([self(frames[i], frames[i + 1]) for i in range(len(frames) - 1)])
        chunks = []
        for start in range(0, len(frames) - 1, _RAFT_BATCH_PAIRS):
            stop = min(start + _RAFT_BATCH_PAIRS, len(frames) - 1)
            chunks.append(self._pair.batch(frames[start:stop], frames[start + 1:stop + 1]))
        return np.concatenate(chunks)


def compute_flow(
    prev: np.ndarray, nxt: np.ndarray, method: FlowMethod | str, *, raft_weights: str = "",
) -> np.ndarray:
    """Flow from `prev` to `nxt` (uint8 RGB (H, W, 3)) as float32 (H, W, 2) px, x right, y down.

    Builds the estimator on every call: for many pairs, build one `FlowEstimator` instead."""
    return FlowEstimator(method, raft_weights=raft_weights)(prev, nxt)


def _check_frames(frame: np.ndarray, name: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 \
            or frame.shape[2] != 3:
        got = f"{frame.dtype} {frame.shape}" if isinstance(frame, np.ndarray) else type(frame)
        raise ValueError(f"flow: {name} must be a uint8 RGB (H, W, 3) array, got {got}")
