"""The questions a layout parser asks of a dataset root, asked through a pyarrow filesystem.

Every parser (ucf101.py, hmdb51.py, sports1m.py, imagenet.py) opens its root with
shards.filesystem and reads it only through these, so a local path, a file://, s3:// or gs://
URI are read alike. On an object store a folder is only a key prefix: it "exists" when a file is
under it. Paths are the filesystem's own (shards.join), never os.sep-joined.
"""

from __future__ import annotations

import pyarrow.fs as pafs


def is_dir(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type == pafs.FileType.Directory


def read_text(fs: pafs.FileSystem, path: str) -> str | None:
    """The file decoded as UTF-8 (undecodable bytes replaced), or None when it is not a file."""
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_stream(path) as f:
        return f.read().decode("utf-8", errors="replace")


def entries(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    """What the folder holds (files and folders, not recursive) sorted by name; [] when there
    is no such folder."""
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    return sorted(infos, key=lambda i: i.base_name)


def files_under(fs: pafs.FileSystem, path: str) -> set[str]:
    """Every file below the folder, as '/'-separated paths relative to it. One listing instead
    of a stat per listed video: on an object store each stat is a request."""
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True, allow_not_found=True))
    prefix = path.rstrip("/") + "/"
    return {i.path.removeprefix(prefix) for i in infos if i.type == pafs.FileType.File}
