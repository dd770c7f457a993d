"""What a dataset's split files say: the listed videos and what could not be used, per split.

Every layout parser (ucf101.py, hmdb51.py, ...) returns a `VideoListing`; ingest turns one into
shards and a manifest without knowing which layout it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VideoItem:
    """One listed video of the chosen split."""

    rel_path: str
    """Path under the videos folder, e.g. "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"."""
    class_name: str
    label: int
    """0-based index into `VideoListing.classes`."""
    split: str
    """"train" or "test"."""
    group: int
    """UCF-101's gNN (clips of one group come from the same long video); 0 where none."""


@dataclass
class VideoListing:
    classes: list[str]
    """Class names in the dataset's canonical order (label i is classes[i])."""
    items: list[VideoItem] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    """(rel path, reason) for listed files not on disk."""
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    """(rel path, reason) for a second listing of the same file (the first one is kept)."""
    unused: list[str] = field(default_factory=list)
    """Rel paths the split lists but leaves out (HMDB-51's flag 0); not checked on disk."""
