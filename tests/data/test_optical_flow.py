"""Every flow method recovers a known shift with the right signs (x right, y down); bad input and
missing RAFT weights are one-line errors; RAFT pads to multiples of 8 and crops back."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from raylab.config import ConfigError, FlowMethod
from raylab.data.optical_flow import FlowEstimator, compute_flow

H, W = 96, 128
MARGIN = 12  # px left out at the border, where the shift brings in unseen content


def _texture(seed: int = 1) -> np.ndarray:
    """Blurred colour noise: texture at every pixel, smooth enough for coarse-to-fine methods."""
    noise = np.random.default_rng(seed).uniform(0, 255, (H, W, 3)).astype(np.float32)
    blurred = cv2.GaussianBlur(noise, (0, 0), 2.0)
    return np.rint((blurred - blurred.min()) / np.ptp(blurred) * 255).astype(np.uint8)


def _shifted(image: np.ndarray, dx: float, dy: float) -> np.ndarray:
    """The image's content moved dx px right and dy px down (bilinear, so sub-pixel works)."""
    move = np.float32([[1, 0, dx], [0, 1, dy]])
    return cv2.warpAffine(image, move, (W, H), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT)


@pytest.mark.parametrize("method", [FlowMethod.TVL1, FlowMethod.FARNEBACK, FlowMethod.DIS])
@pytest.mark.parametrize("dx, dy", [(2.5, -1.5), (-4.0, 1.0)])
def test_cpu_methods_recover_a_known_shift(method: FlowMethod, dx: float, dy: float) -> None:
    prev = _texture()
    flow = compute_flow(prev, _shifted(prev, dx, dy), method)
    assert flow.shape == (H, W, 2) and flow.dtype == np.float32
    inner = flow[MARGIN:-MARGIN, MARGIN:-MARGIN]
    epe = np.hypot(inner[..., 0] - dx, inner[..., 1] - dy).mean()
    # A rigid shift of a fully textured image is the easiest case: measured mean EPE is
    # 0.002-0.026 px for the three methods. A tenth of a pixel leaves margin yet fails on a sign
    # flip (EPE 2|d| >= 5 px), swapped axes (>= 4 px) or a half-pixel bias.
    assert epe < 0.1, f"{method}: mean end-point error {epe:.3f} px"


def test_flow_reverses_with_the_frames() -> None:
    prev = _texture(2)
    nxt = _shifted(prev, 3.0, 2.0)
    estimator = FlowEstimator(FlowMethod.FARNEBACK)
    forward, backward = estimator(prev, nxt), estimator(nxt, prev)
    inner = (slice(MARGIN, -MARGIN), slice(MARGIN, -MARGIN))
    assert np.abs(forward[inner] + backward[inner]).mean() < 0.1


def test_video_gives_one_flow_per_consecutive_pair() -> None:
    prev = _texture(3)
    frames = np.stack([_shifted(prev, 2.0 * t, -1.0 * t) for t in range(4)])
    flows = FlowEstimator(FlowMethod.DIS).video(frames)
    assert flows.shape == (3, H, W, 2)
    inner = flows[:, 3 * MARGIN:-3 * MARGIN, 3 * MARGIN:-3 * MARGIN]
    assert np.allclose(inner.mean(axis=(1, 2)), [[2.0, -1.0]] * 3, atol=0.1)


@pytest.mark.parametrize("prev, nxt, match", [
    (np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 3), np.uint8), "prev must be a uint8 RGB"),
    (np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8), "prev must be a uint8 RGB"),
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 4), np.uint8), "next must be a uint8 RGB"),
    (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), "prev is .* but next is"),
])
def test_bad_frames_are_one_line_errors(prev, nxt, match: str) -> None:
    with pytest.raises(ValueError, match=match) as info:
        compute_flow(prev, nxt, FlowMethod.DIS)
    assert "\n" not in str(info.value)


def test_unknown_method_and_short_video() -> None:
    with pytest.raises(ConfigError, match="flow.method: expected one of tvl1, "):
        FlowEstimator("brox")
    with pytest.raises(ValueError, match=r"T >= 2"):
        FlowEstimator(FlowMethod.DIS).video(np.zeros((1, 8, 8, 3), np.uint8))


def test_raft_needs_a_local_weights_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="flow.raft_weights: method raft_small needs a local"):
        FlowEstimator(FlowMethod.RAFT_SMALL)
    with pytest.raises(ConfigError, match="is not a file"):
        FlowEstimator(FlowMethod.RAFT_SMALL, raft_weights=str(tmp_path / "none.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ConfigError, match="is not a raft_small state_dict") as info:
        FlowEstimator(FlowMethod.RAFT_SMALL, raft_weights=str(junk))
    assert "\n" not in str(info.value)


@pytest.fixture(scope="module")
def raft_small_weights(tmp_path_factory) -> Path:
    """A randomly initialised raft_small state_dict: tests the plumbing, not the accuracy."""
    import torch
    from torchvision.models.optical_flow import raft_small

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("raft") / "raft_small.pth"
    torch.save(raft_small(weights=None).state_dict(), path)
    return path


def test_raft_pads_to_multiples_of_8_and_crops_back(raft_small_weights: Path) -> None:
    estimator = FlowEstimator(FlowMethod.RAFT_SMALL, raft_weights=str(raft_small_weights))
    # 130x150: neither a multiple of 8 (RAFT's smallest input is 128 px a side)
    frames = np.stack([cv2.resize(_texture(s), (150, 130)) for s in range(3)])
    flows = estimator.video(frames)
    assert flows.shape == (2, 130, 150, 2) and flows.dtype == np.float32
    assert np.isfinite(flows).all()
    # Batched pairs equal pair-by-pair calls: the batching and cropping mix no pairs up.
    assert np.allclose(flows[1], estimator(frames[1], frames[2]), atol=1e-4)
    with pytest.raises(ValueError, match="at least 128 px on each side .*got 96x128"):
        estimator(_texture(0), _texture(1))
    # The wrong variant's weights are refused with a one-line error.
    with pytest.raises(ConfigError, match="is not a raft_large state_dict"):
        FlowEstimator(FlowMethod.RAFT_LARGE, raft_weights=str(raft_small_weights))
