"""The ZF few-shot experiment's data (two disjoint digit sets, seeded N-shot cuts) and table."""

import importlib.util
from pathlib import Path

import pyarrow.parquet as pq

from raylab.config import FinetuneDepth
from raylab.data import columns as C
from raylab.data.shards import read_manifest
from raylab.data.sources.synthetic_images import digit_wnid

_PATH = Path(__file__).resolve().parents[1] / "jobs" / "experiments" / "zf_fewshot.py"
_spec = importlib.util.spec_from_file_location("zf_fewshot", _PATH)
zf_fewshot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(zf_fewshot)


def test_source_and_target_are_disjoint_digits_and_the_subset_is_one_shot(tmp_path):
    zf_fewshot.prepare_data(str(tmp_path), smoke=True)
    source = read_manifest(zf_fewshot._shards(str(tmp_path), "source", smoke=True))
    target_dir = zf_fewshot._shards(str(tmp_path), "target", smoke=True)
    target = read_manifest(target_dir)
    assert source["classes"] == [digit_wnid(d) for d in range(5)]
    assert target["classes"] == [digit_wnid(d) for d in range(5, 10)]
    shot_dir = zf_fewshot._shards(str(tmp_path), "target_1shot", smoke=True)
    shot = read_manifest(shot_dir)
    labels = [r[C.LABEL] for f in shot["files"]["train"]
              for r in pq.read_table(shot_dir / f, columns=[C.LABEL]).to_pylist()]
    assert sorted(labels) == [0, 1, 2, 3, 4]
    assert shot["counts"]["test"] == target["counts"]["test"]  # every N scored on the same set
    cfg = zf_fewshot.finetune_config(str(tmp_path), per_class=1, method=FinetuneDepth.ALL,
                                     smoke=True)
    assert cfg.data.shards_dir == str(shot_dir)
    assert cfg.transfer.init_from.endswith("zf_fewshot_pretrain_smoke")
    scratch = zf_fewshot.finetune_config(str(tmp_path), per_class=3,
                                         method=FinetuneDepth.SCRATCH)
    assert scratch.transfer.init_from == ""
    # about the same clips per epoch whatever N (each image repeated): within one pass of N
    for n in zf_fewshot.SHOTS:
        c = zf_fewshot.finetune_config(str(tmp_path), per_class=n, method=FinetuneDepth.ALL)
        clips = c.data.train_clips_per_video * 5 * n
        assert zf_fewshot.CLIPS_PER_EPOCH - 5 * n < clips <= zf_fewshot.CLIPS_PER_EPOCH


def test_table_has_a_row_per_shot_and_a_column_per_method():
    errors = {(1, FinetuneDepth.SCRATCH): 0.61, (1, FinetuneDepth.ALL): 0.25,
              (5, FinetuneDepth.LAST_LAYER): 0.125}
    lines = zf_fewshot.table(errors).splitlines()
    assert lines[0].split() == ["N", "per", "class", "scratch", "last_layer", "all"]
    assert lines[1].split() == ["1", "0.610", "-", "0.250"]
    assert lines[2].split() == ["5", "-", "0.125", "-"]
