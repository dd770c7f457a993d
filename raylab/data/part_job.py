"""The resumable Ray Data job that writes a dataset's Parquet parts, for every `raylab ingest`.

A dataset's ingest (ingest.py: videos, image_ingest.py: images) lists its files, then hands them
here: plan parts (seeded shuffle per split, a new part every ~shard_target_mb of source bytes: the
same inputs always give the same plan) -> one task per unfinished part, run by an actor that keeps
one child process (isolate.py) for the untrusted decoding, so a decoder that kills its process
costs one file -> the part, then its done record. A done record holds the fingerprint of the plan
it was written from; a rerun skips every part whose record matches and rewrites the rest, so an
interrupted ingest resumes. Paths are local or s3:// / gs:// / file:// URIs. The caller writes
the manifest, last, from the done records.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow.fs as pafs
import ray
import ray.data

from raylab.config import ConfigError
from raylab.data import columns as C
from raylab.data.isolate import IsolatedPool
from raylab.data.shards import filesystem, join, read_json, write_json

DONE_DIR = "_done"

Plan = dict[str, Any]
"""One part: "name" (split/part-NNNNN.parquet), "split", "fingerprint", "items" (one dict per
source file, with at least "rel_path" and "uri") and whatever else its dataset's writer needs.
Plans travel to the tasks as JSON."""


class TooManyRejects(ConfigError):
    """More of the listed files were rejected than ingest.max_reject_fraction allows."""


class WritePart(Protocol):
    def __call__(self, plan: Plan, pool: IsolatedPool, fs: pafs.FileSystem,
                 base: str) -> dict[str, Any]:
        """Write the part at join(base, plan["name"]) (decoding in `pool`); returns what its done
        record holds besides name and fingerprint: at least "rows" and "rejected" ([{path,
        reason}]), and under "files" any other file it wrote under `base`, relative to it."""
        ...


def plan_parts(
    items: Sequence[dict[str, Any]], splits: Sequence[str], *, target_bytes: float, seed: int,
    fingerprint: Callable[[list[dict[str, Any]]], Any], **extra: Any,
) -> list[Plan]:
    """Parts per split: a seeded shuffle (shards are not class-sorted), then consecutive items
    until their source bytes ("size") reach the target. A split with no items gets one empty
    part, so readers always find the schema. `fingerprint(part items)` goes into the plan."""
    plans: list[Plan] = []
    for split in splits:
        chosen = [item for item in items if item["split"] == split]
        rng = np.random.default_rng([seed, C.SHARD_SPLITS.index(split)])
        chosen = [chosen[i] for i in rng.permutation(len(chosen))]
        parts: list[list[dict[str, Any]]] = [[]]
        filled = 0.0
        for item in chosen:
            if filled >= target_bytes:
                parts.append([])
                filled = 0.0
            parts[-1].append(item)
            filled += item["size"]
        for index, part in enumerate(parts):
            plans.append({"name": f"{split}/part-{index:05d}.parquet", "split": split,
                          "fingerprint": fingerprint(part), "items": part, **extra})
    return plans


def done_name(plan: Plan) -> str:
    return f"{DONE_DIR}/{plan['name'].replace('/', '-')}.json"


def start_output(out: str | Path) -> None:
    """Create `out` and delete its manifest: none exists while parts change, so none is stale."""
    fs, base = filesystem(out)
    fs.create_dir(base)
    manifest = join(base, C.MANIFEST)
    if fs.get_file_info(manifest).type != pafs.FileType.NotFound:
        fs.delete_file(manifest)


def run_parts(
    plans: list[Plan], out: str | Path, write_part: WritePart, *,
    progress: Callable[[str], None], address: str | None,
) -> dict[str, dict[str, Any]]:
    """Done records of every part by name, writing the unfinished ones as a Ray Data job; then
    deletes the parts and records of earlier plans that this one does not have."""
    records = _done_records(out, plans)
    todo = [p for p in plans if p["name"] not in records]
    progress(f"ingest: {len(plans)} parts planned, {len(records)} already written, "
             f"{len(todo)} to write")
    if todo:
        with ray_for_job(address):
            cpus = int(ray.available_resources().get("CPU", 1))
            ds = ray.data.from_items([{"plan": json.dumps(p)} for p in todo],
                                     override_num_blocks=len(todo))
            ds = ds.map_batches(
                _PartTask, fn_constructor_kwargs={"out": str(out), "write_part": write_part},
                batch_size=1, batch_format="numpy", num_cpus=1,
                # One actor per CPU, each with one child process doing the decoding.
                compute=ray.data.ActorPoolStrategy(min_size=1,
                                                   max_size=max(1, min(cpus, len(todo)))),
            )
            step = max(1, math.ceil(len(todo) / 20))
            for n, row in enumerate(ds.iter_rows(), 1):
                record = json.loads(row["record"])
                records[record["name"]] = record
                if n % step == 0 or n == len(todo):
                    progress(f"ingest: {n}/{len(todo)} parts written")
    _remove_stale(out, plans, records)
    return records


def _done_records(out: str | Path, plans: list[Plan]) -> dict[str, dict[str, Any]]:
    """The done record of each part written from this very plan whose files are all still
    there (any other part is redone)."""
    records = {}
    for plan in plans:
        record = read_json(out, done_name(plan))
        if record is not None and record.get("plan") == plan["fingerprint"]:
            records[plan["name"]] = record
    fs, base = filesystem(out)
    needed = [(name, join(base, f)) for name, r in records.items()
              for f in [name, *r.get("files", [])]]
    infos = fs.get_file_info([path for _, path in needed])
    for (name, _), info in zip(needed, infos, strict=True):
        if info.type == pafs.FileType.NotFound:
            records.pop(name, None)
    return records


@contextlib.contextmanager
def ray_for_job(address: str | None) -> Iterator[None]:
    """Use the Ray the caller started; otherwise start one (local, or `address`) for the job."""
    if ray.is_initialized():
        yield
        return
    address = address or os.environ.get("RAY_ADDRESS")  # set inside `ray job submit`
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        # num_cpus forces a new local Ray: without it ray.init may join a cluster someone else
        # started on this machine.
        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


class _PartTask:
    """Ray Data actor: writes parts; its child process survives from part to part."""

    def __init__(self, out: str, write_part: WritePart) -> None:
        self._out, self._write_part = out, write_part
        self._pool = IsolatedPool(workers=1)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[str]]:
        return {"record": [json.dumps(self._write(json.loads(str(p)))) for p in batch["plan"]]}

    def _write(self, plan: Plan) -> dict[str, Any]:
        fs, base = filesystem(self._out)
        for folder in (plan["split"], DONE_DIR):  # object stores have none: a no-op there
            fs.create_dir(join(base, folder))
        written = self._write_part(plan, self._pool, fs, base)
        record = {"name": plan["name"], "plan": plan["fingerprint"], **written}
        write_json(self._out, done_name(plan), record)  # after the part: it marks it complete
        return record


def _remove_stale(out: str | Path, plans: list[Plan], records: dict[str, dict[str, Any]]) -> None:
    """Delete parts (and done records, and their files) an earlier plan had but this one does
    not."""
    fs, base = filesystem(out)
    keep = {join(base, p["name"]) for p in plans} | {join(base, done_name(p)) for p in plans}
    keep |= {join(base, f) for r in records.values() for f in r.get("files", [])}
    for folder in [*dict.fromkeys(p["split"] for p in plans), DONE_DIR]:
        selector = pafs.FileSelector(join(base, folder), allow_not_found=True)
        for info in fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.path not in keep:
                fs.delete_file(info.path)


def check_rejects(rejected: list[dict[str, str]], accepted: int, limit: float, out: str | Path,
                  noun: str) -> None:
    """Raise TooManyRejects (one line: counts, share, top reasons) when more than `limit` of the
    listed `noun`s (accepted + rejected) were rejected."""
    listed = accepted + len(rejected)
    share = len(rejected) / max(listed, 1)
    if share <= limit:
        return
    reasons = Counter(r["reason"].split(":")[0] for r in rejected)
    top = ", ".join(f"{n} {reason}" for reason, n in reasons.most_common(3))
    raise TooManyRejects(
        f"ingest: {len(rejected)} of {listed} listed {noun} rejected "
        f"({share:.1%} > max reject fraction {limit:.1%}; {top}); shards and reasons in "
        f"{join(str(out), C.MANIFEST)}")
