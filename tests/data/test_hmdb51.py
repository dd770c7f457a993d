"""HMDB-51 end to end on small layouts: the synthetic writer file by file, the split-file parser
(what it accepts, reports and refuses), ingest with broken files, and decodable shard rows."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from raylab.cli import main
from raylab.config import ConfigError, IngestConfig
from raylab.data import columns as C
from raylab.data.decode import decode_clip
from raylab.data.ingest import ingest_hmdb51
from raylab.data.shards import read_manifest
from raylab.data.sources.hmdb51 import SPLITS_DIR, read_hmdb51
from raylab.data.sources.listing import VideoItem
from raylab.data.sources.synthetic import SyntheticSpec, write_hmdb51

# Shape-major order would be disc_up, disc_left, box_up, box_left: sorting must change it.
LAYOUT_SPEC = SyntheticSpec(shapes=("Disc", "Box"), directions=("Up", "Left"), num_groups=6,
                            clips_per_group=2, num_frames=4)
INGEST_SPEC = SyntheticSpec(shapes=("Disc", "Box"), directions=("Left", "Right"), num_groups=9,
                            num_frames=12)
NAME_RE = re.compile(r"synthetic(?P<group>\d\d)_[a-z_]+_u_cm_np1_fr_goo_(?P<clip>\d)\.avi")


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("hmdb")
    return root, write_hmdb51(root, LAYOUT_SPEC)


def _split_lines(root: Path, cls: str, split: int) -> list[tuple[str, str]]:
    """(video name, flag) per line of one split file."""
    text = (root / SPLITS_DIR / f"{cls}_test_split{split}.txt").read_text(encoding="ascii")
    return [tuple(line.split()) for line in text.splitlines()]


# --- the synthetic writer ---------------------------------------------------------------------

def test_class_folders_videos_and_split_files(layout: tuple[Path, list[str]]) -> None:
    root, classes = layout
    assert classes == ["box_left", "box_up", "disc_left", "disc_up"]
    assert sorted(p.name for p in root.iterdir()) == sorted([*classes, SPLITS_DIR])
    for cls in classes:
        files = sorted(p.name for p in (root / cls).iterdir())
        assert files == [f"synthetic{g:02d}_{cls}_u_cm_np1_fr_goo_{c}.avi"
                         for g in range(1, 7) for c in (0, 1)]
    assert sorted(p.name for p in (root / SPLITS_DIR).iterdir()) == sorted(
        f"{cls}_test_split{k}.txt" for cls in classes for k in (1, 2, 3))
    # Like the real files: "<video>.avi <flag> " lines, LF endings, trailing space.
    data = (root / SPLITS_DIR / "disc_up_test_split2.txt").read_bytes()
    assert data.startswith(b"synthetic01_disc_up_u_cm_np1_fr_goo_0.avi 1 \n")
    assert data.count(b" \n") == data.count(b"\n") == 12 and b"\r" not in data


def test_split_files_flag_whole_groups_about_70_30(layout: tuple[Path, list[str]]) -> None:
    root, classes = layout
    tested: Counter[int] = Counter()
    for cls in classes:
        for split in (1, 2, 3):
            lines = _split_lines(root, cls, split)
            names = [name for name, _ in lines]
            assert names == sorted(p.name for p in (root / cls).iterdir())  # every video once
            by_group: dict[int, set[str]] = {}
            for name, flag in lines:
                by_group.setdefault(int(NAME_RE.fullmatch(name)["group"]), set()).add(flag)
            assert all(len(flags) == 1 for flags in by_group.values())  # clips share a flag
            flags = {g: flags.pop() for g, flags in by_group.items()}
            # 6 groups: round(0.3 * 6) = 2 tested, 1 unused, 3 trained; 2 clips each.
            assert Counter(flags.values()) == {"1": 3, "2": 2, "0": 1}
            tested.update(g for g, flag in flags.items() if flag == "2")
    assert tested == {g: len(classes) for g in range(1, 7)}  # each group tested in one split


def test_parser_reads_what_the_writer_wrote(layout: tuple[Path, list[str]]) -> None:
    root, classes = layout
    for split in (1, 2, 3):
        listing = read_hmdb51(root, split)
        assert listing.classes == classes
        assert Counter(item.split for item in listing.items) == {"train": 24, "test": 16}
        assert len(listing.unused) == 8 and not listing.missing and not listing.duplicates
        for item in listing.items:
            assert classes[item.label] == item.class_name == item.rel_path.split("/")[0]
            assert item.group == 0


def test_video_is_mpeg4_avi_320x240(layout: tuple[Path, list[str]]) -> None:
    root, _ = layout
    path = root / "box_up" / "synthetic03_box_up_u_cm_np1_fr_goo_1.avi"
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert "avi" in container.format.name and stream.codec_context.name == "mpeg4"
        assert (stream.codec_context.width, stream.codec_context.height) == (320, 240)
        assert len(list(container.decode(video=0))) == LAYOUT_SPEC.num_frames


# --- the parser on hand-written layouts ---------------------------------------------------------

def _hand_layout(root: Path, lines: dict[str, list[str]], files: list[str],
                 eol: str = "\n") -> Path:
    (root / SPLITS_DIR).mkdir(parents=True)
    for cls, cls_lines in lines.items():
        (root / cls).mkdir()
        for k in (1, 2, 3):
            text = "".join(line + eol for line in cls_lines)
            (root / SPLITS_DIR / f"{cls}_test_split{k}.txt").write_bytes(text.encode())
    for rel in files:
        (root / rel).write_bytes(b"x")
    return root


# Names with the punctuation real HMDB-51 names carry ('#', '(', '!', '&').
BRUSH = ["April_09_brush_hair_u_nm_np1_ba_goo_0.avi", "April_09_brush_hair_u_nm_np1_ba_goo_1.avi",
         "Blonde_being_brushed_brush_hair_f_nm_np2_ri_med_0.avi"]
WHEEL = ["(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0.avi",
         "#122_Tips_&_Tricks_cartwheel_f_cm_np1_ri_med_0.avi"]


def test_items_labels_and_unused_with_trailing_spaces_and_crlf(tmp_path: Path) -> None:
    lines = {"cartwheel": [f"{WHEEL[0]} 2 ", f"{WHEEL[1]}  1"],  # listed first, sorts second
             "brush_hair": [f"{BRUSH[0]} 1 ", f"{BRUSH[1]} 2", f"{BRUSH[2]} 0 "]}
    files = [f"brush_hair/{BRUSH[0]}", f"brush_hair/{BRUSH[1]}",
             f"cartwheel/{WHEEL[0]}", f"cartwheel/{WHEEL[1]}"]  # the unused one is not on disk
    for eol in ("\n", "\r\n"):
        root = _hand_layout(tmp_path / eol.encode().hex(), lines, files, eol)
        listing = read_hmdb51(root, 3)
        assert listing.classes == ["brush_hair", "cartwheel"]
        assert listing.items == [
            VideoItem(f"brush_hair/{BRUSH[0]}", "brush_hair", 0, "train", 0),
            VideoItem(f"brush_hair/{BRUSH[1]}", "brush_hair", 0, "test", 0),
            VideoItem(f"cartwheel/{WHEEL[0]}", "cartwheel", 1, "test", 0),
            VideoItem(f"cartwheel/{WHEEL[1]}", "cartwheel", 1, "train", 0),
        ]
        assert listing.unused == [f"brush_hair/{BRUSH[2]}"]
        assert listing.missing == [] and listing.duplicates == []
        # The same root as a URI: names with '#', '(' and '&' are listed alike.
        assert read_hmdb51(root.as_uri(), 3) == listing


def test_missing_and_duplicate_entries_are_reported(tmp_path: Path) -> None:
    lines = {"brush_hair": [f"{BRUSH[0]} 1", f"{BRUSH[1]} 2 ", "", f"{BRUSH[0]} 2"]}
    root = _hand_layout(tmp_path, lines, files=[f"brush_hair/{BRUSH[0]}"])
    listing = read_hmdb51(root, 1)
    assert [item.rel_path for item in listing.items] == [f"brush_hair/{BRUSH[0]}"]
    [(path, reason)] = listing.missing
    assert path == f"brush_hair/{BRUSH[1]}" and reason.startswith("missing file")
    [(path, reason)] = listing.duplicates
    assert path == f"brush_hair/{BRUSH[0]}" and reason.startswith("duplicate entry")
    assert "brush_hair_test_split1.txt:4 repeats" in reason and reason.endswith(".txt:1")


@pytest.mark.parametrize("bad_lines, expected", [
    ([BRUSH[0]], r"split1\.txt:1: expected '<video>\.avi <flag>' with flag 0, 1 or 2"),
    (["", f"{BRUSH[0]} 3 "], r"split1\.txt:2: expected '<video>\.avi <flag>'"),
    ([f"{BRUSH[0]} train"], r"split1\.txt:1: expected '<video>\.avi <flag>'"),
    (["clip.mp4 1"], r"split1\.txt:1: expected a bare file name ending in \.avi, got 'clip\.mp4'"),
    ([f"brush_hair/{BRUSH[0]} 1"], r"split1\.txt:1: expected a bare file name"),
    ([f"{BRUSH[0]} 1 2"], r"split1\.txt:1: expected a bare file name"),
])
def test_malformed_lines_name_file_and_line(
    tmp_path: Path, bad_lines: list[str], expected: str,
) -> None:
    root = _hand_layout(tmp_path, {"brush_hair": bad_lines}, files=[])
    with pytest.raises(ConfigError, match=expected):
        read_hmdb51(root, 1)


def test_missing_parts_and_bad_split_are_one_line_errors(tmp_path: Path) -> None:
    for split in (0, 4, True, "1"):
        with pytest.raises(ConfigError, match="split: expected 1, 2 or 3"):
            read_hmdb51(tmp_path, split)
    with pytest.raises(ConfigError, match="HMDB-51 root directory.*does not exist"):
        read_hmdb51(tmp_path / "nowhere", 1)
    (tmp_path / "hmdb51_org").mkdir()
    with pytest.raises(ConfigError, match=f"expected a {SPLITS_DIR}/ directory"):
        read_hmdb51(tmp_path, 1)
    root = _hand_layout(tmp_path / "r", {"brush_hair": [], "cartwheel": []}, files=[])
    for cls in ("brush_hair", "cartwheel"):
        (root / cls).rmdir()
    with pytest.raises(ConfigError, match="expected class folders such as brush_hair/"):
        read_hmdb51(root, 1)


def test_split_files_and_class_folders_must_match(tmp_path: Path) -> None:
    root = _hand_layout(tmp_path, {"brush_hair": [], "cartwheel": []}, files=[])
    (root / "cartwheel").rmdir()
    with pytest.raises(ConfigError, match=r"cartwheel_test_split1\.txt: split file for class "
                                          r"'cartwheel', but .*cartwheel/ does not exist"):
        read_hmdb51(root, 1)
    (root / "cartwheel").mkdir()
    (root / SPLITS_DIR / "cartwheel_test_split2.txt").unlink()
    read_hmdb51(root, 1)  # split 1 is complete
    with pytest.raises(ConfigError, match=r"cartwheel_test_split2\.txt: expected this split file "
                                          r"for class folder cartwheel/"):
        read_hmdb51(root, 2)
    (root / "shards").mkdir()  # a stray folder would be an empty 3rd class: refused
    with pytest.raises(ConfigError, match=r"shards_test_split1\.txt: expected this split file"):
        read_hmdb51(root, 1)


# --- ingest ----------------------------------------------------------------------------------

class Ingested:
    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out = root, out
        self.classes = write_hmdb51(root, INGEST_SPEC)
        self.broken = _add_broken_files(root, "box_left")
        self.lines: list[str] = []
        self.manifest = ingest_hmdb51(root, 1, out, cfg=IngestConfig(max_reject_fraction=1.0),
                                      progress=self.lines.append)

    def listed(self, flag: str) -> set[str]:
        return {f"{cls}/{name}" for cls in self.classes
                for name, f in _split_lines(self.root, cls, 1) if f == flag}

    def rows(self, split: str) -> list[dict]:
        return [row for f in self.manifest["files"][split]
                for row in pq.read_table(self.out / f).to_pylist()]


def _add_broken_files(root: Path, cls: str) -> dict[str, str]:
    """Broken videos listed for train/test in split 1, one listed twice, and one flagged 0 (to
    be ignored). Returns {rel path: keyword expected in the reject reason} of the first four."""
    good = next((root / cls).glob("*.avi")).read_bytes()
    broken = {  # name: (bytes or None for not on disk, flag, keyword)
        "empty_u_cm_np1_fr_goo_0.avi": (b"", "1", "empty file"),
        "text_u_cm_np1_fr_goo_0.avi": (b"not a video\n", "2", "not a video container"),
        "cut_u_cm_np1_fr_goo_0.avi": (good[: len(good) // 3], "1", "truncated"),
        "gone_u_cm_np1_fr_goo_0.avi": (None, "2", "missing"),
        "unused_u_cm_np1_fr_goo_0.avi": (b"", "0", ""),
    }
    with (root / SPLITS_DIR / f"{cls}_test_split1.txt").open("a", encoding="ascii") as f:
        for name, (data, flag, _) in broken.items():
            if data is not None:
                (root / cls / name).write_bytes(data)
            f.write(f"{name} {flag} \n")
        f.write("empty_u_cm_np1_fr_goo_0.avi 2\n")  # listed twice: a duplicate reject
    return {f"{cls}/{name}": keyword for name, (_, flag, keyword) in broken.items() if flag != "0"}


@pytest.fixture(scope="module")
def ingested(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    return Ingested(tmp_path_factory.mktemp("hmdb"), tmp_path_factory.mktemp("shards"))


def test_counts_and_ids_match_the_split_files(ingested: Ingested) -> None:
    for split, flag in (("train", "1"), ("test", "2")):
        expected = ingested.listed(flag) - set(ingested.broken)
        ids = [row[C.VIDEO_ID] for row in ingested.rows(split)]
        assert ingested.manifest["counts"][split] == len(ids) == len(expected)
        assert {i + ".avi" for i in ids} == expected
    # 4 classes x 9 groups: split 1 tests 3 groups, leaves 1 unused and trains on 5.
    assert ingested.manifest["counts"] == {"train": 5 * 4, "test": 3 * 4}
    assert "ingest: split 1 flags 5 videos 0 (unused), left out" in ingested.lines


def test_broken_files_are_rejected_once_and_unused_ones_ignored(ingested: Ingested) -> None:
    rejected = ingested.manifest["rejected"]
    dup = [r for r in rejected if r["reason"].startswith("duplicate entry")]
    assert [r["path"] for r in dup] == ["box_left/empty_u_cm_np1_fr_goo_0.avi"]
    others = {r["path"]: r["reason"] for r in rejected if r not in dup}
    assert sorted(others) == sorted(ingested.broken)
    for path, reason in others.items():
        assert ingested.broken[path] in reason, (path, reason)
    assert not any("unused" in r["path"] for r in rejected)


def test_rows_and_manifest(ingested: Ingested) -> None:
    assert ingested.classes == ["box_left", "box_right", "disc_left", "disc_right"]
    for split in ("train", "test"):
        for row in ingested.rows(split):
            assert row[C.SOURCE_PATH] == row[C.VIDEO_ID] + ".avi"
            assert row[C.SOURCE_PATH].split("/")[0] == row[C.CLASS_NAME]
            assert ingested.classes[row[C.LABEL]] == row[C.CLASS_NAME] and row[C.GROUP] == 0
            assert row[C.VIDEO_BYTES] == (ingested.root / row[C.SOURCE_PATH]).read_bytes()
    on_disk = json.loads((ingested.out / C.MANIFEST).read_text())
    assert on_disk == ingested.manifest == read_manifest(ingested.out)
    assert (on_disk["dataset"], on_disk["split"], on_disk["classes"]) == (
        "hmdb51", 1, ingested.classes)


def test_a_file_uri_root_gives_the_same_shards(ingested: Ingested, tmp_path: Path) -> None:
    # file:// takes the code path of s3:// and gs:// roots: listing and reading through pyarrow.
    manifest = ingest_hmdb51(ingested.root.as_uri(), 1, tmp_path / "out",
                             cfg=IngestConfig(max_reject_fraction=1.0), progress=lambda _: None)
    assert manifest == ingested.manifest  # counts, files, rejects with their reasons
    for files in manifest["files"].values():
        for f in files:
            assert pq.read_table(tmp_path / "out" / f).to_pylist() == \
                pq.read_table(ingested.out / f).to_pylist()


def test_shard_rows_decode_into_clips(ingested: Ingested) -> None:
    for split in ("train", "test"):
        for row in ingested.rows(split):
            clip = decode_clip(row[C.VIDEO_BYTES], row[C.FRAME_PTS], [0, 5, 11], size_px=64)
            assert clip.shape == (3, 64, 64, 3) and clip.dtype == np.uint8
            assert np.abs(clip[0].astype(int) - clip[-1]).max() > 30  # the shape moved


# --- the command line ---------------------------------------------------------------------------

def test_cli_ingests_hmdb51(
    ray_session, layout: tuple[Path, list[str]], tmp_path: Path, capsys,
) -> None:
    root, classes = layout
    assert main(["ingest", "hmdb51", "--root", str(root), "--split", "2",
                 "--out", str(tmp_path)]) == 0
    assert "ingest: 24 train / 16 test videos" in capsys.readouterr().out
    manifest = read_manifest(tmp_path)
    assert (manifest["dataset"], manifest["split"], manifest["classes"]) == ("hmdb51", 2, classes)


@pytest.mark.parametrize("dataset, fragment", [
    ("hmdb51", "/nonexistent/hmdb: expected an HMDB-51 root directory"),
    ("ucf101", "/nonexistent/hmdb: expected a UCF-101 root directory"),
])
def test_cli_bad_root_is_one_line(dataset: str, fragment: str, capsys) -> None:
    assert main(["ingest", dataset, "--root", "/nonexistent/hmdb", "--out", "/tmp/x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("raylab: error: ") and fragment in err and err.count("\n") == 1
