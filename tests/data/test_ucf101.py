"""The UCF-101 list parser on hand-written layouts: what it accepts, reports and refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylab.config import ConfigError
from raylab.data.sources.listing import VideoItem
from raylab.data.sources.ucf101 import read_ucf101

CLASSES = ["YoYo", "ApplyEyeMakeup", "HandstandPushups"]  # not alphabetical on purpose


def _layout(root: Path, train: list[str], test: list[str], files: list[str]) -> Path:
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True)
    for k in (1, 2, 3):
        (lists / f"trainlist0{k}.txt").write_bytes("".join(f"{t}\r\n" for t in train).encode())
        (lists / f"testlist0{k}.txt").write_bytes("".join(f"{t}\r\n" for t in test).encode())
    index = "".join(f"{i} {c}\r\n" for i, c in enumerate(CLASSES, 1))
    (lists / "classInd.txt").write_bytes(index.encode())
    for rel in files:
        (root / "UCF-101" / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / "UCF-101" / rel).write_bytes(b"x")
    (root / "UCF-101").mkdir(exist_ok=True)
    return root


def test_items_labels_groups_and_real_case_quirk(tmp_path: Path) -> None:
    # The real lists spell this folder "HandstandPushups" but its files "v_HandStandPushups_...".
    hand = "HandstandPushups/v_HandStandPushups_g08_c01.avi"
    yoyo = "YoYo/v_YoYo_g01_c02.avi"
    root = _layout(tmp_path, train=[f"{hand} 3"], test=[yoyo], files=[hand, yoyo])
    listing = read_ucf101(root, 2)
    assert listing.classes == CLASSES
    assert listing.items == [
        VideoItem(hand, "HandstandPushups", 2, "train", 8),
        VideoItem(yoyo, "YoYo", 0, "test", 1),
    ]
    assert listing.missing == [] and listing.duplicates == []


def test_missing_and_duplicate_entries_are_reported(tmp_path: Path) -> None:
    there, gone = "YoYo/v_YoYo_g08_c01.avi", "YoYo/v_YoYo_g09_c01.avi"
    root = _layout(tmp_path, train=[f"{there} 1", f"{gone} 1"], test=[there], files=[there])
    listing = read_ucf101(root, 1)
    assert [item.rel_path for item in listing.items] == [there]
    assert [(p, r.split(" (")[0]) for p, r in listing.missing] == [(gone, "missing file")]
    [(path, reason)] = listing.duplicates
    assert path == there and reason.startswith("duplicate entry") and "trainlist01.txt:1" in reason


@pytest.mark.parametrize("train, test, expected", [
    (["YoYo/v_YoYo_g08_c01.avi"], [], r"trainlist01\.txt:1: expected '<Class>/<file>\.avi <lab"),
    ([], ["YoYo/clip.avi"], r"testlist01\.txt:1: expected 'YoYo/v_YoYo_gNN_cMM\.avi'"),
    ([], ["YoYo/v_Other_g01_c01.avi"], r"testlist01\.txt:1: expected 'YoYo/v_YoYo_gNN_cMM\.avi'"),
])
def test_malformed_lines_name_file_and_line(
    tmp_path: Path, train: list[str], test: list[str], expected: str,
) -> None:
    root = _layout(tmp_path, train=train, test=test, files=[])
    with pytest.raises(ConfigError, match=expected):
        read_ucf101(root, 1)


def test_labels_outside_class_index_are_rejected_entries(tmp_path: Path) -> None:
    # A wrong label costs its entry (a reject in the manifest), not the whole split.
    ok = "YoYo/v_YoYo_g08_c01.avi"
    root = _layout(tmp_path, train=[f"{ok} 1", "YoYo/v_YoYo_g09_c01.avi 2"],
                   test=["", "Nope/v_Nope_g01_c01.avi"], files=[ok])
    listing = read_ucf101(root, 1)
    assert [item.rel_path for item in listing.items] == [ok]
    assert [(p, r.split(" (listed")[0]) for p, r in listing.invalid] == [
        ("YoYo/v_YoYo_g09_c01.avi", "label 2 disagrees with classInd.txt (YoYo is 1)"),
        ("Nope/v_Nope_g01_c01.avi", "class 'Nope' not in classInd.txt"),
    ]
    assert "testlist01.txt:2" in listing.invalid[1][1]


def test_class_index_must_count_from_one(tmp_path: Path) -> None:
    root = _layout(tmp_path, train=[], test=[], files=[])
    (root / "ucfTrainTestlist" / "classInd.txt").write_text("1 A\n3 B\n")
    with pytest.raises(ConfigError, match=r"classInd\.txt:2: expected index 2"):
        read_ucf101(root, 1)


def test_missing_root_parts_and_bad_split(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        read_ucf101(tmp_path / "nowhere", 1)
    root = _layout(tmp_path / "r", train=[], test=[], files=[])
    for split in (0, 4, True):
        with pytest.raises(ConfigError, match="split: expected 1, 2 or 3"):
            read_ucf101(root, split)
    (root / "ucfTrainTestlist" / "testlist02.txt").unlink()
    with pytest.raises(ConfigError, match=r"testlist02\.txt: expected this UCF-101 list file"):
        read_ucf101(root, 2)
    (root / "UCF-101").rmdir()
    with pytest.raises(ConfigError, match="expected a UCF-101/ directory"):
        read_ucf101(root, 1)
