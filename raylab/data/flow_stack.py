"""The temporal stream's input: L displacement fields -> one (2L, H, W) stack. Pure numpy/cv2.

Simonyan & Zisserman 2014, sec. 3.1 (PAPERS.md 4.2). d_t is the flow from frame t to t+1
(flow shards store it as flow index t), channels x/y interleaved: 2k = x, 2k+1 = y of field k.
- flow stacking (eq. 1): field k sampled at the same pixel (u, v) for every k;
- trajectory stacking (eq. 2): field k sampled at p_k, p_1 = (u, v), p_k = p_{k-1} +
  d(p_{k-1}) along the previous field; bilinear at non-integer p_k (cv2.remap), a trajectory
  that leaves the frame reads the nearest border pixel;
- bi-directional: L/2 fields forward from frame t, then L/2 backward fields from t towards
  t - L/2. Flow shards hold forward flow only, so the backward field from frame s to s-1 is
  approximated by -d_{s-1} (exact where the motion is locally constant; true backward flow
  would need a second extraction pass);
- mean flow subtraction: each field minus its own mean vector, before stacking (so
  trajectories follow the camera-compensated motion too).
Stack planning (which start frame) is here too; decoding the JPEG fields is in flow_shards.py.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from raylab.config import StackKind, TemporalConfig


@dataclass(frozen=True)
class Slot:
    """One displacement field of a stack: which stored forward flow, and its sign (-1: used as
    the backward field of the pair after it)."""

    flow_index: int
    sign: float


def stack_slots(start: int, cfg: TemporalConfig, num_flows: int) -> list[Slot]:
    """The L fields of the stack at frame `start`, in channel order; indices past either end
    of the video repeat its first/last flow (a video shorter than the stack)."""
    last = max(num_flows - 1, 0)
    if not cfg.bidirectional:
        return [Slot(min(start + k, last), 1.0) for k in range(cfg.stack_length)]
    half = cfg.stack_length // 2
    forward = [Slot(min(start + k, last), 1.0) for k in range(half)]
    # Backward field k goes from frame start-k to start-k-1: minus the forward flow d_{start-k-1}.
    backward = [Slot(min(max(start - 1 - k, 0), last), -1.0) for k in range(half)]
    return forward + backward


def start_range(num_flows: int, cfg: TemporalConfig) -> tuple[int, int]:
    """(first, last) start frame whose whole stack lies inside the video (first == last when
    the video is too short: its stack then repeats end flows)."""
    if cfg.bidirectional:
        half = cfg.stack_length // 2
        first, last = half, num_flows - half
    else:
        first, last = 0, num_flows - cfg.stack_length
    if last < first:
        middle = min(max(num_flows // 2, 0), max(num_flows - 1, 0))
        return middle, middle
    return first, last


def plan_train_starts(video_id: str, num_flows: int, cfg: TemporalConfig, *, count: int, seed: int,
                      epoch: int) -> list[int]:
    """`count` random stack starts for this video and epoch (same inputs, same starts); the
    paper samples one per video per batch."""
    # crc32, not hash(): Python salts str hashes per process, which would break determinism.
    rng = np.random.default_rng([seed, epoch, zlib.crc32(video_id.encode())])
    first, last = start_range(num_flows, cfg)
    return [int(s) for s in rng.integers(first, last + 1, size=count)]


def plan_eval_starts(num_flows: int, cfg: TemporalConfig, count: int) -> list[int]:
    """`count` equally spaced stack starts (the paper tests 25 per video, PAPERS.md 4.5)."""
    first, last = start_range(num_flows, cfg)
    return [int(s) for s in np.linspace(first, last, count).round()]


def fit_field(field: np.ndarray, size_px: int) -> np.ndarray:
    """Centre square of a (H, W, 2) field resized to size_px, vectors scaled with the pixels.

    The same geometry as decoded RGB frames (decode.py): a displacement of 1 px in the source
    is size_px / side px after resizing, so both components are multiplied by that ratio."""
    h, w = field.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = field[top:top + side, left:left + side]
    if side == size_px:
        return np.ascontiguousarray(square, dtype=np.float32)
    resized = cv2.resize(square.astype(np.float32), (size_px, size_px),
                         interpolation=cv2.INTER_LINEAR if size_px > side else cv2.INTER_AREA)
    return resized * np.float32(size_px / side)


def subtract_mean(field: np.ndarray) -> np.ndarray:
    """The field minus its mean displacement vector (mean of x and of y over the field)."""
    return field - field.reshape(-1, 2).mean(axis=0, dtype=np.float64).astype(np.float32)


def flow_stack(fields: list[np.ndarray]) -> np.ndarray:
    """Eq. 1: (H, W, 2) fields -> (2L, H, W), channel 2k = x of field k, 2k+1 = y."""
    return np.concatenate([f.transpose(2, 0, 1) for f in fields], axis=0).astype(np.float32)


def trajectory_stack(fields: list[np.ndarray]) -> np.ndarray:
    """Eq. 2: field k sampled at p_k, where p_1 is the pixel grid and p_k = p_{k-1} + d_{k-1}
    (p_{k-1}): each pixel follows its own trajectory through the preceding fields."""
    h, w = fields[0].shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    px, py = xs.copy(), ys.copy()
    out = []
    for k, field in enumerate(fields):
        sampled = field if k == 0 else cv2.remap(
            np.ascontiguousarray(field, dtype=np.float32), px, py,
            interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out.append(sampled.transpose(2, 0, 1))
        px, py = px + sampled[..., 0], py + sampled[..., 1]
    return np.concatenate(out, axis=0).astype(np.float32)


def bidirectional_trajectory_stack(forward: list[np.ndarray],
                                   backward: list[np.ndarray]) -> np.ndarray:
    """Both halves start at the sampled frame's pixel grid: one trajectory follows the forward
    fields, the other the backward fields (PAPERS.md 4.2: either stacking type)."""
    return np.concatenate([trajectory_stack(forward), trajectory_stack(backward)], axis=0)


def build_stack(fields: Mapping[int, np.ndarray], slots: list[Slot], cfg: TemporalConfig
                ) -> np.ndarray:
    """(2L, H, W) float32 from decoded forward fields {flow index: (H, W, 2)} and the slots."""
    chosen = [fields[s.flow_index] * np.float32(s.sign) for s in slots]
    if cfg.mean_subtraction:
        chosen = [subtract_mean(f) for f in chosen]
    if cfg.stacking is StackKind.FLOW:
        return flow_stack(chosen)
    if cfg.bidirectional:
        half = cfg.stack_length // 2
        return bidirectional_trajectory_stack(chosen[:half], chosen[half:])
    return trajectory_stack(chosen)
