"""The synthetic writer reproduces UCF-101's layout byte for byte where it matters, and its videos
show what each class claims: the shape in one frame, the direction only in the motion."""

from __future__ import annotations

import re
from pathlib import Path

import av
import numpy as np
import pytest

from raylab.config import ConfigError
from raylab.data.sources.synthetic import SyntheticSpec, write_ucf101

SPEC = SyntheticSpec(num_groups=9, num_frames=12)
NAME_RE = re.compile(r"v_(?P<cls>\w+?)_g(?P<group>\d\d)_c(?P<clip>\d\d)\.avi")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("ucf")
    return root, write_ucf101(root, SPEC)


def _decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def _list_lines(path: Path) -> list[str]:
    return path.read_bytes().decode("ascii").split("\r\n")[:-1]


def test_class_folders_and_file_names(tiny: tuple[Path, list[str]]) -> None:
    root, classes = tiny
    assert classes == ["DiscLeft", "DiscRight", "DiscUp", "DiscDown",
                       "BoxLeft", "BoxRight", "BoxUp", "BoxDown"]
    assert sorted(p.name for p in (root / "UCF-101").iterdir()) == sorted(classes)
    for name in classes:
        files = sorted(p.name for p in (root / "UCF-101" / name).iterdir())
        assert files == [f"v_{name}_g{g:02d}_c01.avi" for g in range(1, 10)]


def test_class_index_is_exact(tiny: tuple[Path, list[str]]) -> None:
    root, classes = tiny
    expected = "".join(f"{i} {name}\r\n" for i, name in enumerate(classes, 1))
    assert (root / "ucfTrainTestlist" / "classInd.txt").read_bytes() == expected.encode()


def test_every_list_uses_crlf(tiny: tuple[Path, list[str]]) -> None:
    root, _ = tiny
    names = sorted(p.name for p in (root / "ucfTrainTestlist").iterdir())
    assert names == ["classInd.txt"] + [f"{kind}list0{k}.txt"
                                        for kind in ("test", "train") for k in (1, 2, 3)]
    for name in names:
        data = (root / "ucfTrainTestlist" / name).read_bytes()
        assert data.count(b"\n") == data.count(b"\r\n"), name
        assert data.endswith(b"\r\n") or name == "testlist03.txt", name  # 9 groups: no g15-g21


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_lists_partition_videos_by_group(tiny: tuple[Path, list[str]], split: int) -> None:
    root, classes = tiny
    on_disk = {f"{p.parent.name}/{p.name}" for p in (root / "UCF-101").glob("*/*.avi")}
    lists = root / "ucfTrainTestlist"
    test = _list_lines(lists / f"testlist0{split}.txt")
    train = [line.split(" ") for line in _list_lines(lists / f"trainlist0{split}.txt")]
    assert all(" " not in line for line in test)  # test lines are a path only
    assert set(test) | {path for path, _ in train} == on_disk
    assert len(test) + len(train) == len(on_disk)  # no overlap, no repeats
    test_groups = range(7 * (split - 1) + 1, 7 * split + 1)
    for path in test:
        assert int(NAME_RE.fullmatch(path.split("/")[1])["group"]) in test_groups
    for path, label in train:
        folder, name = path.split("/")
        match = NAME_RE.fullmatch(name)
        assert match["cls"] == folder and int(match["group"]) not in test_groups
        assert int(label) == classes.index(folder) + 1


def test_video_is_mpeg4_avi_320x240_25fps(tiny: tuple[Path, list[str]]) -> None:
    root, _ = tiny
    path = root / "UCF-101" / "BoxUp" / "v_BoxUp_g03_c01.avi"
    with av.open(str(path)) as container:
        assert "avi" in container.format.name
        stream = container.streams.video[0]
        assert stream.codec_context.name == "mpeg4"
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == 25
    assert _decode(path).shape == (SPEC.num_frames, 240, 320, 3)


def _moving_pixels(frames: np.ndarray) -> np.ndarray:
    """(T, H, W) bool: pixels that differ clearly from frame 0 (compression noise is small)."""
    diff = np.abs(frames.astype(np.int16) - frames[:1].astype(np.int16)).sum(axis=-1)
    return diff > 60


@pytest.mark.parametrize("a, b, axis", [("Left", "Right", 1), ("Up", "Down", 0)])
def test_opposite_directions_move_opposite_ways(
    tiny: tuple[Path, list[str]], a: str, b: str, axis: int,
) -> None:
    root, _ = tiny
    shifts = {}
    for direction in (a, b):
        name = f"Disc{direction}"
        moving = _moving_pixels(_decode(root / "UCF-101" / name / f"v_{name}_g02_c01.avi"))
        # Differing pixels cover the start and the current position: their centroid moves at
        # half the object's speed, in its direction.
        centroids = [np.argwhere(m).mean(axis=0)[axis] for m in moving[[5, -1]]]
        shifts[direction] = centroids[1] - centroids[0]
    assert shifts[a] < -5 and shifts[b] > 5


def test_object_stays_inside_central_square(tiny: tuple[Path, list[str]]) -> None:
    root, classes = tiny
    for name in classes:
        moving = _moving_pixels(_decode(root / "UCF-101" / name / f"v_{name}_g04_c01.avi"))
        cols = np.flatnonzero(moving.any(axis=(0, 1)))
        assert cols.size and cols.min() >= 40 and cols.max() < 280, name


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    spec = SyntheticSpec(shapes=("Box",), directions=("Up",), num_groups=1, num_frames=4)
    rel = Path("UCF-101/BoxUp/v_BoxUp_g01_c01.avi")
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        write_ucf101(tmp_path / name, SyntheticSpec(**{**spec.__dict__, "seed": seed}))
    assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert (tmp_path / "a" / rel).read_bytes() != (tmp_path / "c" / rel).read_bytes()


@pytest.mark.parametrize("kwargs", [
    {"shapes": ("Star",)}, {"directions": ()}, {"shapes": ("Disc", "Disc")},
    {"num_groups": 0}, {"num_groups": 100}, {"num_frames": 1}, {"speed_px_per_frame": 0.0},
])
def test_spec_rejects_bad_values(kwargs: dict) -> None:
    with pytest.raises(ConfigError, match="synthetic."):
        SyntheticSpec(**kwargs)
