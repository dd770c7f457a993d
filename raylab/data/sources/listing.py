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
    labels: tuple[int, ...] = ()
    """Every label of a multi-label video, `label` first; () means just (label,)."""
    video_id: str = ""
    """Id of the video in shards and evaluation; "" means rel_path without its extension."""

    def __post_init__(self) -> None:
        # Filled here so every reader sees complete values (the dataclass is frozen).
        if not self.labels:
            object.__setattr__(self, "labels", (self.label,))
        if self.labels[0] != self.label:
            raise ValueError(f"{self.rel_path}: label {self.label} must be labels[0] "
                             f"({self.labels})")
        if not self.video_id:
            object.__setattr__(self, "video_id", self.rel_path.rpartition(".")[0] or self.rel_path)


@dataclass
class VideoListing:
    classes: list[str]
    """Class names in the dataset's canonical order (label i is classes[i])."""
    items: list[VideoItem] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)
    """(rel path, reason) for listed files not on disk."""
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    """(rel path, reason) for a second listing of the same file (the first one is kept)."""
    invalid: list[tuple[str, str]] = field(default_factory=list)
    """(rel path or file:line, reason) for entries whose label is not in the class list."""
    absent: list[str] = field(default_factory=list)
    """Listed videos the user never downloaded, where the layout expects gaps (Sports-1M: many
    YouTube videos are gone). Counted and reported, not rejects."""
    unused: list[str] = field(default_factory=list)
    """Rel paths the split lists but leaves out (HMDB-51's flag 0); not checked on disk."""
