"""End-to-end ingest of a small synthetic UCF-101 (with broken files) into shards + manifest."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.ingest import CRASHED, ingest_ucf101, probe_files
from raylab.data.shards import VideoProbe, read_manifest
from raylab.data.sources.synthetic import SyntheticSpec, write_corrupt_fixtures, write_ucf101

SPEC = SyntheticSpec(shapes=("Disc", "Box"), directions=("Left", "Right"), num_groups=9,
                     num_frames=12)


class Ingested:
    def __init__(self, root: Path, out: Path) -> None:
        self.root, self.out = root, out
        self.classes = write_ucf101(root, SPEC)
        self.broken = write_corrupt_fixtures(root)
        self.lines: list[str] = []
        self.manifest = ingest_ucf101(root, 1, out, seed=0, progress=self.lines.append)

    def listed(self, kind: str) -> set[str]:
        text = (self.root / "ucfTrainTestlist" / f"{kind}list01.txt").read_text()
        return {line.split()[0] for line in text.splitlines() if line.strip()}

    def rows(self, split: str) -> list[dict]:
        return [row for f in self.manifest["files"][split]
                for row in pq.read_table(self.out / f).to_pylist()]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Ingested:
    return Ingested(tmp_path_factory.mktemp("ucf"), tmp_path_factory.mktemp("shards"))


def test_counts_and_ids_match_the_split_lists(ingested: Ingested) -> None:
    for split in C.SHARD_SPLITS:
        expected = ingested.listed(split) - set(ingested.broken)
        ids = [row[C.VIDEO_ID] for row in ingested.rows(split)]
        assert ingested.manifest["counts"][split] == len(ids) == len(expected)
        assert {i + ".avi" for i in ids} == expected
    # 4 classes; split 1 tests on groups 1-7 and trains on 8-9; every broken file is rejected.
    assert ingested.manifest["counts"] == {"train": 2 * 4, "test": 7 * 4}


def test_every_broken_file_is_rejected_once_with_its_reason(ingested: Ingested) -> None:
    rejected = ingested.manifest["rejected"]
    assert sorted(r["path"] for r in rejected) == sorted(ingested.broken)
    for r in rejected:
        assert ingested.broken[r["path"]] in r["reason"], r


def test_rows_carry_every_column_consistently(ingested: Ingested) -> None:
    for split in C.SHARD_SPLITS:
        for row in ingested.rows(split):
            assert len(row[C.FRAME_PTS]) == row[C.NUM_FRAMES] == SPEC.num_frames
            assert row[C.FRAME_PTS] == sorted(row[C.FRAME_PTS])
            assert row[C.SPLIT] == split
            assert row[C.VIDEO_ID] + ".avi" == row[C.SOURCE_PATH]
            assert ingested.classes[row[C.LABEL]] == row[C.CLASS_NAME]
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
    assert on_disk == ingested.manifest == read_manifest(ingested.out)
    assert on_disk["classes"] == ["DiscLeft", "DiscRight", "BoxLeft", "BoxRight"]
    assert (on_disk["dataset"], on_disk["split"], on_disk["schema_version"]) == ("ucf101", 1, 1)


def test_progress_reports_probing_up_to_the_total(ingested: Ingested) -> None:
    pattern = r"ingest: \d+/\d+ videos probed"
    probed = [line for line in ingested.lines if re.fullmatch(pattern, line)]
    assert 5 <= len(probed) <= 11 and probed[-1] == "ingest: 39/39 videos probed"


def test_missing_root_and_bad_split_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape(str(tmp_path / "nope"))):
        ingest_ucf101(tmp_path / "nope", 1, tmp_path / "out", progress=lambda _: None)
    with pytest.raises(ConfigError, match="split: expected 1, 2 or 3"):
        ingest_ucf101(tmp_path, 4, tmp_path / "out", progress=lambda _: None)


def test_all_rejected_is_a_config_error(tmp_path: Path) -> None:
    spec = SyntheticSpec(shapes=("Disc",), directions=("Up",), num_groups=1, num_frames=2)
    write_ucf101(tmp_path / "ucf", spec)
    (tmp_path / "ucf" / "UCF-101" / "DiscUp" / "v_DiscUp_g01_c01.avi").write_bytes(b"")
    with pytest.raises(ConfigError, match="every listed video was rejected.*empty file"):
        ingest_ucf101(tmp_path / "ucf", 1, tmp_path / "out", progress=lambda _: None)
    assert not (tmp_path / "out" / C.MANIFEST).exists()


CRASHING_PROBE = '''
import os
import signal

from raylab.data.ingest import probe_path


def probe(path):
    if "CRASH" in path:
        os.kill(os.getpid(), signal.SIGKILL)  # what a segfaulting decoder looks like
    return probe_path(path)
'''


def test_a_crashing_decoder_costs_one_file(
    ingested: Ingested, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Workers are spawned, so the probe must be importable by name in a fresh interpreter.
    (tmp_path / "crashing_probe_for_test.py").write_text(CRASHING_PROBE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import crashing_probe_for_test

    good = sorted((ingested.root / "UCF-101" / "DiscLeft").glob("*_c01.avi"))[:4]
    paths = [good[0], tmp_path / "CRASH.avi", good[1], good[2], good[3]]
    results = probe_files(paths, probe=crashing_probe_for_test.probe, progress=lambda _: None)
    assert results[1] == CRASHED
    assert all(isinstance(r, VideoProbe) for i, r in enumerate(results) if i != 1)
    sys.modules.pop("crashing_probe_for_test")
