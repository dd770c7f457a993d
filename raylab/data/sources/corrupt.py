"""Broken videos and bad list entries added to a synthetic UCF-101 layout: what ingest must reject.

Covers the ways real downloads break (empty, text, truncated, audio-only, 0 and 1 frames, a codec
tag no decoder claims, a missing file, a label classInd.txt does not have, a duplicate entry) and
one odd-but-valid file ingest must keep (321x241). Writes only; never reads datasets back.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from raylab.data.sources.synthetic import FPS, ucf101_file_name, ucf101_test_groups


@dataclass(frozen=True)
class CorruptFixtures:
    """What `write_corrupt_fixtures` added to the split lists."""

    rejected: dict[str, str]
    """{path relative to UCF-101/: keyword expected in ingest's reject reason}."""
    accepted: list[str]
    """Odd-but-valid files ingest must keep (odd resolution; the first of a duplicate pair)."""


def write_corrupt_fixtures(root: Path) -> CorruptFixtures:
    """Add broken videos and bad list entries to an existing UCF-101 layout, in every split list.

    Covers the ways real downloads break: empty, text, truncated, audio-only, 0 and 1 frames, a
    codec tag FFmpeg has no decoder for, a missing file, a label classInd.txt does not have, a
    duplicate entry; plus a 321x241 video, which is accepted (frames are centre-cropped and
    resized anyway, and FFmpeg decodes odd sizes; rejecting would drop real data).
    """
    root = Path(root)
    lists_dir = root / "ucfTrainTestlist"
    label, name = (lists_dir / "classInd.txt").read_text().splitlines()[0].split()
    folder = root / "UCF-101" / name
    good = (folder / ucf101_file_name(name, 1, 1)).read_bytes()
    # Clip number 99 is past what SyntheticSpec writes here; groups spread over the splits.
    # (group: (bytes to write or None, expected reason keyword or "" if accepted, label)).
    contents: dict[int, tuple[bytes | None, str, str]] = {
        1: (b"", "empty file", label),
        8: (b"this is a text file, not a video\n", "not a video container", label),
        15: (good[: int(len(good) * 0.3)], "truncated", label),
        22: (None, "missing", label),
        2: (_audio_only_avi(), "no video stream", label),
        9: (_tiny_avi(0), "fewer than 2 frames", label),
        16: (_tiny_avi(1), "fewer than 2 frames", label),
        23: (_bogus_codec_avi(), "Decoder not found", label),
        10: (_tiny_avi(12, width=321, height=241), "", label),
    }
    fixtures = CorruptFixtures(rejected={}, accepted=[])
    for group, (data, keyword, line_label) in contents.items():
        rel = f"{name}/{ucf101_file_name(name, group, 99)}"
        if data is not None:
            (folder / Path(rel).name).write_bytes(data)
        if keyword:
            fixtures.rejected[rel] = keyword
        else:
            fixtures.accepted.append(rel)
        _append_to_lists(lists_dir, rel, group, line_label)
    # A class classInd.txt does not have (its label too, on train lines).
    unlisted = "Unlisted/v_Unlisted_g03_c99.avi"
    _append_to_lists(lists_dir, unlisted, 3, "999")
    fixtures.rejected[unlisted] = "not in classInd.txt"
    # Listed twice: the first entry is ingested, the second rejected.
    twice = f"{name}/{ucf101_file_name(name, 17, 99)}"
    (folder / Path(twice).name).write_bytes(good)
    for _ in range(2):
        _append_to_lists(lists_dir, twice, 17, label)
    fixtures.rejected[twice] = "duplicate entry"
    fixtures.accepted.append(twice)
    return fixtures


def _append_to_lists(lists_dir: Path, rel: str, group: int, label: str) -> None:
    for split in (1, 2, 3):
        is_test = group in ucf101_test_groups(split)
        list_file = lists_dir / f"{'test' if is_test else 'train'}list0{split}.txt"
        with list_file.open("a", encoding="ascii", newline="") as f:
            f.write(f"{rel}\r\n" if is_test else f"{rel} {label}\r\n")


def _tiny_avi(num_frames: int, width: int = 64, height: int = 48) -> bytes:
    """MPEG-4 AVI of `num_frames` grey frames (0 frames: the header only)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        container.start_encoding()  # writes the header even when no frame follows
        for t in range(num_frames):
            array = np.full((height, width, 3), 10 * t, np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())
    return buffer.getvalue()


def _bogus_codec_avi() -> bytes:
    """A valid AVI whose codec tag (FMP4, in the stream header and the format chunk) is replaced
    by one no decoder claims: demuxes fine, cannot decode."""
    data = _tiny_avi(12)
    if data.count(b"FMP4") != 2:
        raise RuntimeError("expected PyAV's AVI muxer to tag MPEG-4 as FMP4 twice")
    return data.replace(b"FMP4", b"ZQZQ")


def _audio_only_avi() -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="avi") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return buffer.getvalue()
