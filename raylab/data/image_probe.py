"""What ingest's child process does with one untrusted image file: read it (a local path or any
URI), decode it in full, and return its bytes, its facts and, for a training image, its pixels at
the training resize; or the reason to reject it.

Apart from image_ingest.py because the child process imports the module this function lives in:
here it imports no Ray, which would cost every writer's child seconds of start-up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from raylab.data.decode import DecodeError
from raylab.data.image_decode import BadImage, ImageProbe, decode_image, probe_jpeg
from raylab.data.shards import filesystem


@dataclass(frozen=True)
class ImageSource:
    """One image to read and check: where it is, and the size to decode it at for the sums."""

    uri: str
    stats_px: int | None
    """Decode at this size for the pixel sums (training images); None: only check the file."""


Prepared = tuple[bytes, ImageProbe, "np.ndarray | None"]
PrepareFn = Callable[[ImageSource], "Prepared | str"]


def prepare_image(source: ImageSource) -> Prepared | str:
    """The file's bytes, probe and (with stats_px) pixels, or the reason to reject it."""
    try:
        fs, path = filesystem(source.uri)
        with fs.open_input_stream(path) as f:
            data = f.read()
        probe = probe_jpeg(data)
        pixels = decode_image(data, source.stats_px) if source.stats_px is not None else None
        return data, probe, pixels
    except BadImage as err:
        return err.reason
    except DecodeError as err:
        return f"cannot decode: {err}"
    except OSError as err:
        return f"unreadable: {err.strerror or err}"
    except Exception as err:
        # One odd file must not end the ingest: the reason lands in the manifest, and a bug
        # that rejects every file still fails the ingest (no training image is left).
        return f"probe failed: {type(err).__name__}: {err}"
