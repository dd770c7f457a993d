"""What ingest's child process does with one untrusted video file: read it (a local path or any
URI), probe it and maybe cut it into keyframe-aligned segments; or say why to reject it.

Apart from ingest.py because the child process imports the module this function lives in: here
it imports no Ray, which would cost every writer's child seconds of start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from raylab.data.segments import cut_segments
from raylab.data.shards import BadVideo, VideoProbe, filesystem, probe_video


@dataclass(frozen=True)
class Source:
    """One video to read and validate: where it is, and whether to cut it into segments."""

    uri: str
    segment_s: float | None
    """Seconds per keyframe-aligned segment; None keeps the video whole."""


Prepared = list[tuple[bytes, VideoProbe]]
PrepareFn = Callable[[Source], "Prepared | str"]


def prepare_video(source: Source) -> Prepared | str:
    """Read, probe and (maybe) cut one video; runs in a child process. Returns the rows' bytes
    with their probes (one per segment), or the reason to reject the file."""
    try:
        fs, path = filesystem(source.uri)
        with fs.open_input_stream(path) as f:
            data = f.read()
        probe = probe_video(data)
        if source.segment_s is None:
            return [(data, probe)]
        return [(piece, probe_video(piece)) for piece in cut_segments(data, source.segment_s)]
    except BadVideo as err:
        return err.reason
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    except Exception as err:
        # One odd file must not end the ingest: the reason lands in the manifest, and a bug
        # that rejects every file still fails the ingest (see ingest_listing).
        return f"probe failed: {type(err).__name__}: {err}"
