"""End-to-end ingest (a Ray Data job) of a small synthetic UCF-101 with broken files and bad
list entries into shards + manifest; resuming, reject limits, a crashing decoder."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from raylab.config import ConfigError, IngestConfig
from raylab.data import columns as C
from raylab.data.ingest import ingest_ucf101
from raylab.data.isolate import CRASHED
from raylab.data.part_job import TooManyRejects
from raylab.data.shards import read_manifest
from raylab.data.sources.corrupt import write_corrupt_fixtures
from raylab.data.sources.synthetic import SyntheticSpec, write_ucf101
from raylab.data.video_probe import Source, prepare_video

SPEC = SyntheticSpec(shapes=("Disc", "Box"), directions=("Left", "Right"), num_groups=9,
                     num_frames=12)
# ~50 kB of videos per part: the 40-odd videos make several parts per split.
SMALL_PARTS = IngestConfig(shard_target_mb=0.05, max_reject_fraction=1.0)
SPLITS = ("train", "test")


class Ingested:
    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out = root, out
        self.classes = write_ucf101(root, SPEC)
        self.fixtures = write_corrupt_fixtures(root)
        self.broken = self.fixtures.rejected
        self.lines: list[str] = []
        # A file:// URI for the output: the same code path as s3:// or gs://.
        self.manifest = ingest_ucf101(root, 1, out.as_uri(), cfg=SMALL_PARTS,
                                      progress=self.lines.append)

    def listed(self, kind: str) -> set[str]:
        text = (self.root / "ucfTrainTestlist" / f"{kind}list01.txt").read_text()
        return {line.split()[0] for line in text.splitlines() if line.strip()}

    def rows(self, split: str) -> list[dict]:
        return [row for f in self.manifest["files"][split]
                for row in pq.read_table(self.out / f).to_pylist()]


@pytest.fixture(scope="module")
def ingested(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    return Ingested(tmp_path_factory.mktemp("ucf"), tmp_path_factory.mktemp("shards"))


def test_counts_and_ids_match_the_split_lists(ingested: Ingested) -> None:
    accepted = set(ingested.fixtures.accepted)
    for split in SPLITS:
        expected = (ingested.listed(split) - set(ingested.broken)) | (
            accepted & ingested.listed(split))
        ids = [row[C.VIDEO_ID] for row in ingested.rows(split)]
        assert ingested.manifest["counts"][split] == len(ids) == len(expected)
        assert {i + ".avi" for i in ids} == expected
    # 4 classes; split 1 tests on groups 1-7 and trains on 8-9, plus the odd-size video (g10)
    # and the duplicated one (g17), both train in split 1; every broken file is rejected.
    assert ingested.manifest["counts"] == {"train": 2 * 4 + 2, "test": 7 * 4}
    assert len(ingested.manifest["files"]["train"]) >= 2  # small parts: several per split


def test_every_broken_file_is_rejected_once_with_its_reason(ingested: Ingested) -> None:
    rejected = ingested.manifest["rejected"]
    assert sorted(r["path"] for r in rejected) == sorted(ingested.broken)
    for r in rejected:
        assert ingested.broken[r["path"]] in r["reason"], r


def test_odd_resolution_is_accepted_at_its_size(ingested: Ingested) -> None:
    [odd] = [r for r in ingested.rows("train") if "_g10_c99" in r[C.VIDEO_ID]]
    assert (odd[C.WIDTH], odd[C.HEIGHT], odd[C.NUM_FRAMES]) == (321, 241, 12)


def test_rows_carry_every_column_consistently(ingested: Ingested) -> None:
    for split in SPLITS:
        for row in ingested.rows(split):
            if row[C.SOURCE_PATH] in ingested.fixtures.accepted:
                continue  # odd fixtures: other sizes, lengths
            assert len(row[C.FRAME_PTS]) == row[C.NUM_FRAMES] == SPEC.num_frames
            assert row[C.FRAME_PTS] == sorted(row[C.FRAME_PTS])
            assert row[C.SPLIT] == split
            assert row[C.VIDEO_ID] + ".avi" == row[C.SOURCE_PATH]
            assert ingested.classes[row[C.LABEL]] == row[C.CLASS_NAME]
            assert row[C.LABELS] == [row[C.LABEL]] and row[C.SEGMENT] == 0
            assert f"_g{row[C.GROUP]:02d}_" in row[C.VIDEO_ID]
            assert (row[C.CODEC], row[C.WIDTH], row[C.HEIGHT]) == ("mpeg4", 320, 240)
            assert row[C.FPS] == 25.0 and row[C.TIME_BASE] == pytest.approx(0.04)
            on_disk = ingested.root / "UCF-101" / row[C.SOURCE_PATH]
            assert row[C.VIDEO_BYTES] == on_disk.read_bytes()  # never re-encoded


def test_shards_are_shuffled_not_class_sorted(ingested: Ingested) -> None:
    labels = [row[C.LABEL] for row in ingested.rows("test")]
    assert labels != sorted(labels)


def test_manifest_file_is_the_returned_manifest(ingested: Ingested) -> None:
    on_disk = json.loads((ingested.out / C.MANIFEST).read_text())
    assert on_disk == ingested.manifest == read_manifest(ingested.out.as_uri())
    assert on_disk["classes"] == ["DiscLeft", "DiscRight", "BoxLeft", "BoxRight"]
    assert (on_disk["dataset"], on_disk["split"], on_disk["schema_version"]) == ("ucf101", 1, 2)


def test_progress_reports_parts_up_to_the_total(ingested: Ingested) -> None:
    parts = sum(len(f) for f in ingested.manifest["files"].values())
    written = [line for line in ingested.lines if re.fullmatch(r"ingest: \d+/\d+ parts written",
                                                               line)]
    assert written and written[-1] == f"ingest: {parts}/{parts} parts written"


def test_a_rerun_skips_finished_parts_and_redoes_a_lost_one(ingested: Ingested) -> None:
    before = {f: (ingested.out / f).stat().st_mtime_ns
              for files in ingested.manifest["files"].values() for f in files}
    lost = ingested.manifest["files"]["test"][0]
    (ingested.out / lost).unlink()
    (ingested.out / "_done" / f"{lost.replace('/', '-')}.json").unlink()
    lines: list[str] = []
    again = ingest_ucf101(ingested.root, 1, ingested.out, cfg=SMALL_PARTS, progress=lines.append)
    assert again == ingested.manifest
    assert f"ingest: {len(before)} parts planned, {len(before) - 1} already written, 1 to write" \
        in lines
    after = {f: (ingested.out / f).stat().st_mtime_ns for f in before}
    assert [f for f in before if after[f] != before[f]] == [lost]


def test_a_file_uri_root_gives_the_same_shards(ingested: Ingested, tmp_path: Path) -> None:
    # file:// takes the code path of s3:// and gs:// roots: listing and reading through pyarrow.
    manifest = ingest_ucf101(ingested.root.as_uri(), 1, tmp_path / "out", cfg=SMALL_PARTS,
                             progress=lambda _: None)
    assert manifest == ingested.manifest  # counts, files, rejects with their reasons
    for files in manifest["files"].values():
        for f in files:
            assert pq.read_table(tmp_path / "out" / f).to_pylist() == \
                pq.read_table(ingested.out / f).to_pylist()


def test_missing_root_and_bad_split_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "nope"))):
        ingest_ucf101(tmp_path / "nope", 1, tmp_path / "out", progress=lambda _: None)
    with pytest.raises(ConfigError, match="split: expected 1, 2 or 3"):
        ingest_ucf101(tmp_path, 4, tmp_path / "out", progress=lambda _: None)
    nowhere = (tmp_path / "nope").as_uri()
    with pytest.raises(ConfigError, match=re.escape(f"{nowhere}: expected a UCF-101 root")):
        ingest_ucf101(nowhere, 1, tmp_path / "out", progress=lambda _: None)


def test_all_rejected_is_a_config_error(ray_session, tmp_path: Path) -> None:
    spec = SyntheticSpec(shapes=("Disc",), directions=("Up",), num_groups=1, num_frames=2)
    write_ucf101(tmp_path / "ucf", spec)
    (tmp_path / "ucf" / "UCF-101" / "DiscUp" / "v_DiscUp_g01_c01.avi").write_bytes(b"")
    with pytest.raises(ConfigError, match="every listed video was rejected.*empty file"):
        ingest_ucf101(tmp_path / "ucf", 1, tmp_path / "out", progress=lambda _: None)
    assert not (tmp_path / "out" / C.MANIFEST).exists()


def test_too_many_rejects_fail_after_writing_the_manifest(ingested: Ingested,
                                                          tmp_path: Path) -> None:
    strict = IngestConfig(shard_target_mb=SMALL_PARTS.shard_target_mb, max_reject_fraction=0.2)
    with pytest.raises(TooManyRejects) as err:
        ingest_ucf101(ingested.root, 1, tmp_path / "out", cfg=strict, progress=lambda _: None)
    message = str(err.value)
    listed = sum(ingested.manifest["counts"].values()) + len(ingested.broken)
    assert "\n" not in message
    assert message.startswith(f"ingest: {len(ingested.broken)} of {listed} listed videos rejected")
    assert read_manifest(tmp_path / "out")["rejected"] == ingested.manifest["rejected"]


def test_a_crashing_decoder_costs_one_file(ingested: Ingested, tmp_path: Path) -> None:
    rel = "DiscLeft/v_DiscLeft_g02_c01.avi"

    def abort_on_one_file(source: Source):
        # What a segfaulting decoder looks like: the process dies, no exception to catch.
        if source.uri.endswith(rel):
            os.abort()
        return prepare_video(source)

    manifest = ingest_ucf101(ingested.root, 1, tmp_path / "out", cfg=SMALL_PARTS,
                             progress=lambda _: None, prepare=abort_on_one_file)
    assert {"path": rel, "reason": CRASHED} in manifest["rejected"]
    assert len(manifest["rejected"]) == len(ingested.manifest["rejected"]) + 1
    assert manifest["counts"]["test"] == ingested.manifest["counts"]["test"] - 1


def test_cli_exits_2_with_one_line_above_the_reject_fraction(
    ingested: Ingested, tmp_path: Path, capsys: pytest.CaptureFixture,
) -> None:
    from raylab.cli import main

    # A copy of the finished shards: the rerun skips every part and only judges the rejects.
    shutil.copytree(ingested.out, tmp_path / "out")
    args = ["ingest", "ucf101", "--root", str(ingested.root), "--out", str(tmp_path / "out"),
            "--shard-target-mb", str(SMALL_PARTS.shard_target_mb)]
    rejected = len(ingested.broken)
    listed = sum(ingested.manifest["counts"].values()) + rejected
    assert main(args) == 2  # about a fifth rejected: over the default 1%
    err = capsys.readouterr().err
    assert err.startswith(f"raylab: error: ingest: {rejected} of {listed} listed videos "
                          f"rejected") and err.count("\n") == 1
    assert main([*args, "--max-reject-fraction", "0.5"]) == 0
    counts = ingested.manifest["counts"]
    assert f"ingest: {counts['train']} train / {counts['test']} test videos" in \
        capsys.readouterr().out
