"""Write a small synthetic video dataset in UCF-101's or HMDB-51's exact on-disk layout.

Each class is a (shape, direction) pair: one frame shows the shape but not the direction, which
only the motion shows, so a single-frame model must guess among len(directions) while a model that
sees motion can be perfect. (corrupt.py adds the broken files ingest must reject.)
This module does not read datasets back (`ucf101.py`, `hmdb51.py`) and never downloads anything.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from raylab.config import ConfigError

WIDTH_PX, HEIGHT_PX, FPS = 320, 240, 25
# Training centre-crops the 240x240 square, so the object's whole path must stay inside it.
_SQUARE_X0 = (WIDTH_PX - HEIGHT_PX) // 2
_MARGIN_PX = 3
_SIZE_PX = (50.0, 58.0)  # object extent (diameter / side), drawn per video
_TEST_GROUPS_PER_SPLIT = 7  # UCF-101 split k tests on groups 7(k-1)+1 .. 7k
_BIT_RATE = 1_500_000  # high enough that shapes and blob edges stay clean at 320x240
_GOP_FRAMES = 12  # keyframe interval: clip decoding seeks to keyframes, as on the real dataset

Sdf = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def _disc(x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    return np.hypot(x, y) - half


def _box(x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    return np.maximum(np.abs(x), np.abs(y)) - 0.9 * half


def _triangle(x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    # Apex up at (0, -half), base at y = 0.7 * half; each term is a distance to one edge's line.
    norm = np.hypot(1.7, 1.0)
    right = (1.7 * x - (y + half)) / norm
    left = (-1.7 * x - (y + half)) / norm
    return np.maximum(np.maximum(right, left), y - 0.7 * half)


def _cross(x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    ax, ay, arm = np.abs(x), np.abs(y), 0.33 * half
    return np.minimum(np.maximum(ax - half, ay - arm), np.maximum(ax - arm, ay - half))


def _ring(x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    return np.abs(np.hypot(x, y) - 0.7 * half) - 0.3 * half


# Signed distance (negative inside) of each shape centred at the origin, in pixels.
SHAPES: dict[str, Sdf] = {
    "Disc": _disc, "Box": _box, "Triangle": _triangle, "Cross": _cross, "Ring": _ring,
}
# Unit velocity in image coordinates (y grows downwards).
DIRECTIONS: dict[str, tuple[float, float]] = {
    "Left": (-1.0, 0.0), "Right": (1.0, 0.0), "Up": (0.0, -1.0), "Down": (0.0, 1.0),
}


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate; class names are shape + direction, e.g. "DiscLeft"."""

    shapes: tuple[str, ...] = ("Disc", "Box")
    """Appearance classes, keys of SHAPES; a single frame tells only these apart."""
    directions: tuple[str, ...] = ("Left", "Right", "Up", "Down")
    """Motion classes, keys of DIRECTIONS; only the motion over frames tells these apart."""
    num_groups: int = 25
    """Groups g01..gNN per class (UCF-101 has 25; split k tests on 7 of them)."""
    clips_per_group: int = 1
    """Clips c01..cMM per group."""
    num_frames: int = 40
    """Frames per video, at 25 fps."""
    speed_px_per_frame: float = 5.0
    """Object speed; lowered for a video when its path would leave the central 240x240 square."""
    seed: int = 0
    """Every video is drawn from a generator seeded with (seed, video index)."""
    shade_by_shape: bool = True
    """Each shape gets its own grey level (first shape black ... last white, jittered), so a
    single frame's appearance cue is learnable from a few hundred videos; with False every video
    gets a random contrasting colour and small nets memorise colours instead of learning shape."""

    def __post_init__(self) -> None:
        for field, given, known in (("shapes", self.shapes, SHAPES),
                                    ("directions", self.directions, DIRECTIONS)):
            if not given or len(set(given)) != len(given) or not set(given) <= set(known):
                raise ConfigError(f"synthetic.{field}: expected distinct names from "
                                  f"{', '.join(known)}, got {given!r}")
        for field, value, upper in (("num_groups", self.num_groups, 99),
                                    ("clips_per_group", self.clips_per_group, 99)):
            if not 1 <= value <= upper:  # file names hold two digits (gNN, cMM)
                raise ConfigError(f"synthetic.{field}: expected 1..{upper}, got {value!r}")
        if self.num_frames < 2:
            raise ConfigError(f"synthetic.num_frames: expected >= 2, got {self.num_frames!r}")
        if self.speed_px_per_frame <= 0:
            raise ConfigError(f"synthetic.speed_px_per_frame: expected > 0, "
                              f"got {self.speed_px_per_frame!r}")


def write_ucf101(root: Path, spec: SyntheticSpec) -> list[str]:
    """Write ROOT/UCF-101/<Class>/v_<Class>_gNN_cMM.avi and ROOT/ucfTrainTestlist/*.txt.

    Returns the class names in classInd.txt order (shape-major, not alphabetical, so a reader
    that sorts folder names instead of reading classInd.txt gets the labels wrong).
    """
    root = Path(root)
    pairs = [(shape, direction) for shape in spec.shapes for direction in spec.directions]
    classes = [shape + direction for shape, direction in pairs]
    jobs = []
    for (shape, direction), name in zip(pairs, classes, strict=True):
        folder = root / "UCF-101" / name
        folder.mkdir(parents=True, exist_ok=True)
        for group in range(1, spec.num_groups + 1):
            for clip in range(1, spec.clips_per_group + 1):
                jobs.append((folder / ucf101_file_name(name, group, clip), shape, direction))
    _write_videos(jobs, spec)
    _write_lists(root / "ucfTrainTestlist", classes, spec)
    return classes


def write_hmdb51(root: Path, spec: SyntheticSpec) -> list[str]:
    """Write ROOT/<class>/<video>.avi and ROOT/testTrainMulti_7030_splits/<class>_test_splitK.txt.

    Class names are lowercase snake case ("disc_left"); video names follow HMDB-51's pattern
    (source, action, tags, clip number from 0), one source video per group. Returns the class
    names sorted, the only order HMDB-51 defines (it has no class index file).
    """
    root = Path(root)
    pairs = [(shape, direction) for shape in spec.shapes for direction in spec.directions]
    classes = [f"{shape}_{direction}".lower() for shape, direction in pairs]
    jobs = []
    for (shape, direction), name in zip(pairs, classes, strict=True):
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for group in range(1, spec.num_groups + 1):
            for clip in range(1, spec.clips_per_group + 1):
                jobs.append((folder / _hmdb_file_name(name, group, clip), shape, direction))
    _write_videos(jobs, spec)
    splits_dir = root / "testTrainMulti_7030_splits"
    splits_dir.mkdir(parents=True, exist_ok=True)
    for split in (1, 2, 3):
        flags = _hmdb_flags(spec.num_groups, split)
        for name in classes:
            lines = [f"{_hmdb_file_name(name, group, clip)} {flags[group]} "
                     for group in range(1, spec.num_groups + 1)
                     for clip in range(1, spec.clips_per_group + 1)]
            # As in the real files: "<video>.avi <flag> " (trailing space), LF line endings.
            text = "".join(line + "\n" for line in sorted(lines))
            (splits_dir / f"{name}_test_split{split}.txt").write_text(text, encoding="ascii")
    return sorted(classes)


def write_sports1m(root: Path, spec: SyntheticSpec) -> list[str]:
    """Write Sports-1M's layout: ROOT/labels.txt, ROOT/{train,test}_partition.txt, ROOT/videos/.

    `num_groups` videos per class, each named by an 11-character YouTube-style id, H.264 with
    B-frames (keyframe every second) in .mp4 or .mkv. Every 10th video has a second label, every
    4th group is in the test partition, and every 7th is listed but not downloaded (as on a real
    partial download). Returns the class names in labels.txt order.
    """
    root = Path(root)
    pairs = [(shape, direction) for shape in spec.shapes for direction in spec.directions]
    classes = [shape + direction for shape, direction in pairs]
    (root / "videos").mkdir(parents=True, exist_ok=True)
    (root / "labels.txt").write_text("".join(c + "\n" for c in classes), encoding="ascii")
    rng = np.random.default_rng([spec.seed, 1])
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    lines: dict[str, list[str]] = {"train": [], "test": []}
    jobs = []
    for n, (label, group) in enumerate(
            (label, group) for group in range(spec.num_groups) for label in range(len(pairs))):
        video_id = "".join(rng.choice(alphabet, size=11))
        labels = [label, (label + 1) % len(classes)] if n % 10 == 9 else [label]
        kind = "test" if group % 4 == 3 else "train"  # whole groups, so every class is tested
        lines[kind].append(f"https://www.youtube.com/watch?v={video_id} "
                           f"{','.join(map(str, labels))}")
        if n % 7 != 6:
            ext = ".mkv" if n % 2 else ".mp4"
            jobs.append((root / "videos" / f"{video_id}{ext}", *pairs[label]))
    for kind, text in lines.items():
        (root / f"{kind}_partition.txt").write_text("".join(t + "\n" for t in text),
                                                    encoding="ascii")
    _write_videos(jobs, spec, encode=_encode_h264)
    return classes


def _write_videos(
    jobs: list[tuple[Path, str, str]], spec: SyntheticSpec,
    encode: Callable[[Path, Iterable[np.ndarray]], None] | None = None,
) -> None:
    """Render and encode one video per (path, shape, direction); the job's position seeds it."""
    encode = encode or _encode_avi

    def write_one(index: int, job: tuple[Path, str, str]) -> None:
        path, shape, direction = job
        rng = np.random.default_rng([spec.seed, index])
        shade = spec.shapes.index(shape) / max(len(spec.shapes) - 1, 1)
        encode(path, _render_video(rng, SHAPES[shape], DIRECTIONS[direction], spec,
                                   shade if spec.shade_by_shape else None))

    # Threads, not processes: FFmpeg's encoder and numpy release the GIL, and each video has its
    # own generator, so the output does not depend on scheduling.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        list(pool.map(write_one, range(len(jobs)), jobs))


def ucf101_file_name(name: str, group: int, clip: int) -> str:
    """v_<Class>_gNN_cMM.avi, UCF-101's file name pattern."""
    return f"v_{name}_g{group:02d}_c{clip:02d}.avi"


def _hmdb_file_name(name: str, group: int, clip: int) -> str:
    # Real example: April_09_brush_hair_u_nm_np1_ba_goo_0.avi (source, action, body part, camera
    # motion, people, viewpoint, quality, clip number); clips of one source share its name.
    return f"synthetic{group:02d}_{name}_u_cm_np1_fr_goo_{clip - 1}.avi"


def _hmdb_flags(num_groups: int, split: int) -> dict[int, int]:
    """{group: flag} for one split: ~30% test (2), ~1 in 10 unused (0), the rest train (1).

    Whole groups (source videos) share a flag, as in the real splits; each split rotates by a
    third, so with a multiple of 3 groups every group is tested in exactly one split."""
    order = list(range(1, num_groups + 1))
    shift = (split - 1) * num_groups // 3
    order = order[shift:] + order[:shift]
    num_test = round(0.3 * num_groups)
    num_unused = max(1, num_groups // 10) if num_groups >= 4 else 0
    return {group: 2 if i < num_test else 0 if i < num_test + num_unused else 1
            for i, group in enumerate(order)}


def ucf101_test_groups(split: int) -> range:
    """The groups UCF-101 split `split` tests on (the rest train)."""
    first = _TEST_GROUPS_PER_SPLIT * (split - 1) + 1
    return range(first, first + _TEST_GROUPS_PER_SPLIT)


def _write_lists(lists_dir: Path, classes: list[str], spec: SyntheticSpec) -> None:
    lists_dir.mkdir(parents=True, exist_ok=True)
    _write_crlf(lists_dir / "classInd.txt", [f"{i} {name}" for i, name in enumerate(classes, 1)])
    for split in (1, 2, 3):
        train, test = [], []
        for label, name in enumerate(classes, 1):
            for group in range(1, spec.num_groups + 1):
                for clip in range(1, spec.clips_per_group + 1):
                    rel = f"{name}/{ucf101_file_name(name, group, clip)}"
                    if group in ucf101_test_groups(split):
                        test.append(rel)
                    else:
                        train.append(f"{rel} {label}")
        _write_crlf(lists_dir / f"trainlist0{split}.txt", train)
        _write_crlf(lists_dir / f"testlist0{split}.txt", test)


def _write_crlf(path: Path, lines: list[str]) -> None:
    # The real UCF-101 lists end lines with CRLF; writing the same tests the parser against it.
    path.write_text("".join(line + "\r\n" for line in lines), encoding="ascii", newline="")


def _render_video(
    rng: np.random.Generator, sdf: Sdf, velocity: tuple[float, float], spec: SyntheticSpec,
    shade: float | None,
) -> Iterator[np.ndarray]:
    """Frames, uint8 (H, W, 3): the shape moving at constant velocity over a static background."""
    background = _background(rng)
    size = rng.uniform(*_SIZE_PX)
    half = size / 2
    steps = spec.num_frames - 1
    room = HEIGHT_PX - size - 2 * _MARGIN_PX
    speed = min(spec.speed_px_per_frame, room / (steps * max(map(abs, velocity))))
    start = []
    for axis, v in enumerate(velocity):
        lo = (_SQUARE_X0 if axis == 0 else 0) + _MARGIN_PX + half
        hi = lo + room
        travel = v * speed * steps
        low, high = lo - min(0.0, travel), hi - max(0.0, travel)
        start.append(rng.uniform(low, max(low, high)))  # max: rounding when speed was capped
    if shade is None:
        colour = _contrasting_colour(rng, background)
    else:
        colour = np.clip(255 * shade + rng.uniform(-20, 20, size=3), 0, 255).astype(np.float32)
    still = np.clip(background + 0.5, 0, 255).astype(np.uint8)
    frame = np.empty_like(still)
    for t in range(spec.num_frames):
        cx = start[0] + velocity[0] * speed * t
        cy = start[1] + velocity[1] * speed * t
        frame[:] = still
        _draw(frame, background, sdf, (cx, cy, half), colour)
        yield frame  # the same buffer each time: the consumer copies it before the next


def _background(rng: np.random.Generator) -> np.ndarray:
    """float32 (H, W, 3): smooth random colour blobs in [60, 190].

    No hard-edged shapes: a rectangle in the background would look like a Box to a single frame
    and make appearance, the part of the label a frame should tell, needlessly ambiguous."""
    coarse = rng.uniform(60, 190, size=(4, 5, 3))
    wy, wx = _interp_weights(4, HEIGHT_PX), _interp_weights(5, WIDTH_PX)
    return np.einsum("yi,ijc,xj->yxc", wy, coarse, wx, optimize=True).astype(np.float32)


def _interp_weights(points: int, size: int) -> np.ndarray:
    """(size, points) linear-interpolation weights from `points` evenly spaced knots."""
    knots = np.linspace(0, size - 1, points)
    eye = np.eye(points)
    return np.stack([np.interp(np.arange(size), knots, eye[i]) for i in range(points)], axis=1)


def _contrasting_colour(rng: np.random.Generator, background: np.ndarray) -> np.ndarray:
    # Per channel, go to the far end from the background's mean over the square, so the shape
    # stands out wherever it is (background channels stay within [60, 190]).
    mean = background[:, _SQUARE_X0:_SQUARE_X0 + HEIGHT_PX].mean(axis=(0, 1))
    dark, bright = rng.uniform(0, 35, size=3), rng.uniform(220, 255, size=3)
    return np.where(mean >= 125, dark, bright).astype(np.float32)


def _draw(
    frame: np.ndarray, background: np.ndarray, sdf: Sdf, where: tuple[float, float, float],
    colour: np.ndarray,
) -> None:
    """Blend the shape centred at (cx, cy) with half-size `half` into `frame` (uint8, in place)."""
    cx, cy, half = where
    x0, x1 = int(np.floor(cx - half - 2)), int(np.ceil(cx + half + 2))
    y0, y1 = int(np.floor(cy - half - 2)), int(np.ceil(cy + half + 2))
    # Pixel centres relative to the object's centre; coverage from the signed distance gives
    # anti-aliased edges, so sub-pixel motion is smooth and compresses cleanly.
    ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
    alpha = np.clip(0.5 - sdf(xs - cx, ys - cy, half), 0.0, 1.0)[..., None]
    blended = background[y0:y1, x0:x1] * (1 - alpha) + colour * alpha
    frame[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def _encode_avi(path: Path, frames: Iterable[np.ndarray]) -> None:
    """AVI + MPEG-4 Part 2 ("mpeg4"), 25 fps, yuv420p: the container and codec family of UCF-101."""
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH_PX, HEIGHT_PX, "yuv420p"
        stream.bit_rate = _BIT_RATE
        stream.gop_size = _GOP_FRAMES
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())  # flush the encoder's delayed packets


def _encode_h264(path: Path, frames: Iterable[np.ndarray]) -> None:
    """H.264 with B-frames (decode order differs from display order) and a keyframe every
    second, in the container the file's extension names."""
    fmt = {".mp4": "mp4", ".mkv": "matroska"}[path.suffix]
    with av.open(str(path), mode="w", format=fmt) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH_PX, HEIGHT_PX, "yuv420p"
        stream.options = {"preset": "ultrafast", "bf": "2", "g": str(FPS),
                          "keyint_min": str(FPS), "sc_threshold": "0", "crf": "18"}
        for array in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")))
        container.mux(stream.encode())
