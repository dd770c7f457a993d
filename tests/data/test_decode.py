"""Seek-based decoding returns exactly the frames a full decode gives, or a clear DecodeError."""

import io

import av
import numpy as np
import pytest
from PIL import Image

from raylab.data.decode import DecodeError, decode_clip, decode_clips, decode_video
from raylab.data.shards import probe_video
from raylab.data.sources.synthetic import SyntheticSpec, write_ucf101


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    root = tmp_path_factory.mktemp("dec")
    write_ucf101(root, SyntheticSpec(directions=("Left",), shapes=("Disc",), num_groups=1,
                                     num_frames=60, seed=5))
    data = next((root / "UCF-101").rglob("*.avi")).read_bytes()
    with av.open(io.BytesIO(data)) as c:
        full = [f.to_image() for f in c.decode(video=0)]
    return data, probe_video(data).frame_pts, full


def _reference(full, indices, size):
    # centre 240x240 of the 320x240 frame, resized like the decoder does
    return np.stack([np.asarray(full[i].resize((size, size), Image.Resampling.BILINEAR,
                                               box=(40, 0, 280, 240))) for i in indices])


@pytest.mark.parametrize("indices", [[0], list(range(25, 35)), [59], [3, 18], [50, 10, 10]])
def test_clip_equals_full_decode(video, indices):
    data, pts, full = video
    clip = decode_clip(data, pts, indices, size_px=64)
    assert clip.shape == (len(indices), 64, 64, 3) and clip.dtype == np.uint8
    assert np.array_equal(clip, _reference(full, indices, 64))


def test_many_clips_in_one_pass_equal_separate_decodes(video):
    data, pts, full = video
    clips = [list(range(s, s + 10)) for s in (0, 7, 45, 50)] + [[2, 40]]
    together = decode_clips(data, pts, clips, size_px=48)
    for clip, got in zip(clips, together):
        assert np.array_equal(got, decode_clip(data, pts, clip, size_px=48))
        assert np.array_equal(got, _reference(full, clip, 48))


def test_bad_requests_raise_decode_error(video):
    data, pts, _ = video
    with pytest.raises(DecodeError, match="out of range"):
        decode_clip(data, pts, [len(pts)], size_px=32)
    with pytest.raises(DecodeError):
        decode_clip(b"this is not a video", pts, [0], size_px=32)
    with pytest.raises(DecodeError, match="not found"):
        decode_clip(data[: len(data) // 3], pts, [len(pts) - 1], size_px=32)


def test_decode_video_gives_every_frame_shorter_side_resized(video):
    data, pts, full = video
    frames = decode_video(data, pts, short_side_px=60)
    assert frames.shape == (60, 60, 80, 3) and frames.dtype == np.uint8  # 320x240 -> 80x60
    for i in (0, 31, 59):
        want = np.asarray(full[i].resize((80, 60), Image.Resampling.BILINEAR))
        assert np.array_equal(frames[i], want)
    with pytest.raises(DecodeError, match="not found"):
        decode_video(data[: len(data) // 3], pts, short_side_px=60)
    with pytest.raises(DecodeError):
        decode_video(b"this is not a video", pts, short_side_px=60)
