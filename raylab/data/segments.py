"""Cut a long video into keyframe-aligned segments of about `segment_s` seconds, not re-encoded.

Packets are copied (remuxed) from one keyframe up to the first keyframe at least `segment_s` after
it, so every segment starts with a keyframe and decodes on its own, and pixels are bit-identical to
the source. Segments are therefore at least `segment_s` long except the last one (the source's GOP
length decides how much longer). Each segment is written as Matroska whatever the source container:
it carries any codec FFmpeg demuxes and keeps pts/dts as they are (B-frames, VFR, gaps).
Only the video stream is kept. This module does not probe (shards.py) or decode frames (decode.py).
"""

from __future__ import annotations

import io

import av

from raylab.data.shards import BadVideo

SEGMENT_FORMAT = "matroska"


def cut_segments(data: bytes, segment_s: float) -> list[bytes]:
    """The video stream of `data` as a list of keyframe-aligned Matroska files. Raises BadVideo."""
    try:
        with av.open(io.BytesIO(data), mode="r") as source:
            if not source.streams.video:
                raise BadVideo("no video stream")
            stream = source.streams.video[0]
            groups = list(_group_at_keyframes(source.demux(stream), stream, segment_s))
            return [_remux(stream, packets) for packets in groups]
    except av.FFmpegError as err:
        raise BadVideo(f"cannot cut segments: {err.strerror or err}") from None


def _group_at_keyframes(packets, stream, segment_s: float) -> list[list[av.Packet]]:
    """Runs of packets, each starting at a keyframe, cut at the first keyframe >= segment_s on.

    A last run shorter than segment_s / 2 joins the one before (a segment of a frame or two is
    too short to cut a clip from)."""
    groups: list[list[av.Packet]] = []
    starts: list[float] = []
    end = 0.0
    for packet in packets:
        # pts, not dts: with B-frames a keyframe's dts runs ahead of when it is shown.
        stamp = packet.pts if packet.pts is not None else packet.dts
        if stamp is None or packet.size == 0:
            continue  # the demuxer's flush packet / an AVI dropped-frame chunk: no picture
        seconds = float(stamp * stream.time_base)
        if packet.is_keyframe and (not starts or seconds - starts[-1] >= segment_s):
            groups.append([])
            starts.append(seconds)
        if groups:  # packets before the first keyframe cannot be decoded: dropped
            groups[-1].append(packet)
            end = max(end, seconds)
    if len(groups) >= 2 and end - starts[-1] < segment_s / 2:
        last = groups.pop()
        groups[-1] += last
    return groups


def _remux(stream, packets: list[av.Packet]) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=SEGMENT_FORMAT) as out:
        target = out.add_stream_from_template(stream)
        for packet in packets:
            packet.stream = target
            out.mux(packet)
    return buffer.getvalue()
