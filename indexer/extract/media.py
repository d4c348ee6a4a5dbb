"""Cheap health checks for audio, video and images, with duration and size.

Media carry no text to index, but a truncated upload is common (a phone on a school
network) and a teacher should learn at upload time that the clip stops halfway, not
in front of a class. Only what can be judged from the container structure is
checked, without decoding: MP3 frame headers, MP4 boxes, PNG chunks, JPEG markers.
Anything else is accepted as it is.
"""

from __future__ import annotations

import struct
import zlib

from indexer.extract.job import Job, Source

__all__ = ["inspect_audio_video", "inspect_image"]

#: MP3 frames walked at most: about 50 minutes at 44.1 kHz. Longer files are estimated.
MAX_MP3_FRAMES = 80_000
#: Bytes of an MP3 read for the walk.
MAX_MP3_BYTES = 64 * 1024 * 1024
_MP3_SYNC_SEARCH = 64 * 1024
_MIN_MP3_FRAMES = 10

_MP3_BITRATES = {
    (1, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (1, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (1, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (2, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (2, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (2, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# MPEG version (1, 2, 2.5 written as 25) -> sample rates by index.
_MP3_SAMPLE_RATES = {
    1: (44100, 48000, 32000),
    2: (22050, 24000, 16000),
    25: (11025, 12000, 8000),
}
_MP4_MIMES = frozenset(
    {
        "video/mp4",
        "audio/mp4",
        "audio/x-m4a",
        "video/quicktime",
        "video/3gpp",
        "audio/3gpp",
    }
)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_BOXES = 10_000


def inspect_audio_video(src: Source, job: Job) -> None:
    """Check an audio or video file for truncation and note its duration."""
    mime = job.result.mime
    if mime == "audio/mpeg":
        _mp3(src, job)
    elif mime in _MP4_MIMES:
        _mp4(src, job)


def inspect_image(src: Source, job: Job) -> None:
    """Check PNG and JPEG images for damage and note their pixel size."""
    mime = job.result.mime
    if mime == "image/png":
        _png(src, job)
    elif mime == "image/jpeg":
        _jpeg(src, job)


# MP3 -------------------------------------------------------------------------------


def _syncsafe(data: bytes) -> int:
    return (data[0] << 21) | (data[1] << 14) | (data[2] << 7) | data[3]


def _mp3_frame(header: bytes) -> tuple[int, int, int, int] | None:
    """``(length, samples, sample rate, bitrate kbps)`` of an MPEG audio frame."""
    b0, b1, b2 = header[:3]
    if b0 != 0xFF or (b1 & 0xE0) != 0xE0:
        return None

    version = {3: 1, 2: 2, 0: 25}.get((b1 >> 3) & 3)
    layer = {3: 1, 2: 2, 1: 3}.get((b1 >> 1) & 3)
    bitrate_index = b2 >> 4
    rate_index = (b2 >> 2) & 3
    if version is None or layer is None or bitrate_index in (0, 15) or rate_index == 3:
        return None

    bitrate = _MP3_BITRATES[(1 if version == 1 else 2, layer)][bitrate_index - 1]
    sample_rate = _MP3_SAMPLE_RATES[version][rate_index]
    padding = (b2 >> 1) & 1
    if layer == 1:
        return (
            (12 * bitrate * 1000 // sample_rate + padding) * 4,
            384,
            sample_rate,
            bitrate,
        )

    if layer == 3 and version != 1:
        return 72 * bitrate * 1000 // sample_rate + padding, 576, sample_rate, bitrate

    return 144 * bitrate * 1000 // sample_rate + padding, 1152, sample_rate, bitrate


def _mp3(src: Source, job: Job) -> None:
    size = src.size
    data = src.read(MAX_MP3_BYTES)
    start = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        start = 10 + _syncsafe(data[6:10]) + (10 if data[5] & 0x10 else 0)
        if start >= size:
            job.partial(
                "the file ends inside its ID3 tag, before any audio: it was truncated "
                "during upload or copying"
            )
            return

    end = len(data)
    if end == size and data[-128:-125] == b"TAG":
        end -= 128

    # Encoders may pad before the first frame; look for one a little way on.
    position = start
    limit = min(end, start + _MP3_SYNC_SEARCH)
    while position + 4 <= limit and _mp3_frame(data[position : position + 4]) is None:
        position = data.find(b"\xff", position + 1, limit)
        if position < 0:
            position = limit

    frames = samples = 0
    sample_rate = bitrate = 0
    truncated = False
    first = position
    while position + 4 <= end and frames < MAX_MP3_FRAMES:
        frame = _mp3_frame(data[position : position + 4])
        if frame is None:
            break

        length, frame_samples, sample_rate, frame_bitrate = frame
        if frames == 0:
            bitrate = frame_bitrate
            _check_xing(data[position : position + length], job)

        if position + length > end:
            truncated = end == size
            break

        frames += 1
        samples += frame_samples
        position += length

    if frames == 0:
        job.partial(
            "no MPEG audio frames were found: the file is damaged or not really an MP3"
        )
        return

    if frames >= MAX_MP3_FRAMES or end < size - 128:
        # Walk cut short by our own limits: estimate from the first frame's bitrate.
        job.result.duration_seconds = round((size - first) * 8 / (bitrate * 1000), 2)
    else:
        job.result.duration_seconds = round(samples / sample_rate, 2)

    if truncated:
        job.partial(
            f"the audio stops in the middle of a frame after "
            f"{job.result.duration_seconds:g} s: the file was truncated"
        )
    elif frames < _MIN_MP3_FRAMES:
        job.partial(
            f"the file holds only {frames} audio frame(s) "
            f"({job.result.duration_seconds:g} s): it is damaged or cut short"
        )


def _check_xing(frame: bytes, job: Job) -> None:
    """A VBR header (Xing/Info) claiming no frames makes players show 0:00."""
    for marker in (b"Xing", b"Info"):
        offset = frame.find(marker, 4, 64)
        if offset < 0 or len(frame) < offset + 12:
            continue

        (flags,) = struct.unpack_from(">I", frame, offset + 4)
        if flags & 1:
            (count,) = struct.unpack_from(">I", frame, offset + 8)
            if count == 0:
                job.partial(
                    "the VBR (Xing) header is damaged: players may show a wrong "
                    "length and fail to seek"
                )
        return


# MP4 / QuickTime -------------------------------------------------------------------


def _mp4(src: Source, job: Job) -> None:
    size = src.size
    found: set[bytes] = set()
    with src.open() as stream:
        position = 0
        for _ in range(_MAX_BOXES):
            if position + 8 > size:
                break

            stream.seek(position)
            header = stream.read(16)
            if len(header) < 8:
                break

            box_size, box_type = struct.unpack(">I4s", header[:8])
            if box_size == 1 and len(header) == 16:
                (box_size,) = struct.unpack(">Q", header[8:16])
            elif box_size == 0:
                box_size = size - position

            if box_size < 8:
                job.partial(
                    f"the file is damaged: box {_box_name(box_type)} is invalid"
                )
                return

            found.add(box_type)
            if position + box_size > size:
                job.partial(
                    f"the file is truncated: its {_box_name(box_type)} box runs past "
                    "the end, so it will not play completely"
                )
                return

            if box_type == b"moov":
                stream.seek(position)
                _mp4_duration(stream.read(min(box_size, 16 * 1024 * 1024)), job)

            position += box_size

    if b"moov" not in found and b"moof" not in found:
        job.partial("the file has no movie header ('moov' box): it will not play")


def _box_name(box_type: bytes) -> str:
    return repr(box_type.decode("latin-1"))


def _mp4_duration(moov: bytes, job: Job) -> None:
    offset = moov.find(b"mvhd")
    if offset < 4 or len(moov) < offset + 32:
        return

    version = moov[offset + 4]
    try:
        if version == 1:
            timescale, duration = struct.unpack_from(">IQ", moov, offset + 24)
        else:
            timescale, duration = struct.unpack_from(">II", moov, offset + 16)
    except struct.error:
        return

    if timescale:
        job.result.duration_seconds = round(duration / timescale, 2)


# Images ----------------------------------------------------------------------------


def _png(src: Source, job: Job) -> None:
    size = src.size
    with src.open() as stream:
        head = stream.read(33)
        if len(head) < 33 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
            job.reject(
                "the PNG image is damaged: it has no valid header (IHDR chunk); save "
                "or export the image again"
            )
            return

        (crc,) = struct.unpack(">I", head[29:33])
        if zlib.crc32(head[12:29]) != crc:
            job.reject("the PNG image is damaged: its header fails its checksum")
            return

        width, height = struct.unpack(">II", head[16:24])
        job.result.metadata.update(width=width, height=height)

        # Walk chunk headers (not their data) to the image end marker.
        position = 8
        for _ in range(_MAX_BOXES * 10):
            stream.seek(position)
            header = stream.read(8)
            if len(header) < 8:
                break

            length, chunk_type = struct.unpack(">I4s", header)
            if chunk_type == b"IEND":
                return

            position += 12 + length
            if position > size:
                break

    job.partial("the PNG image is truncated: it ends before its last chunk")


def _jpeg(src: Source, job: Job) -> None:
    size = src.size
    with src.open() as stream:
        head = stream.read(min(size, 256 * 1024))
        stream.seek(max(0, size - 1024))
        tail = stream.read()

    dimensions = _jpeg_dimensions(head)
    if dimensions is not None:
        job.result.metadata.update(width=dimensions[0], height=dimensions[1])

    if b"\xff\xd9" not in tail:
        job.partial("the JPEG image is truncated: its end marker is missing")


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None

        marker = data[position + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            position += 2
            continue

        (length,) = struct.unpack_from(">H", data, position + 2)
        # Start-of-frame markers (baseline, progressive, ...) carry the size.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack_from(">HH", data, position + 5)
            return width, height

        position += 2 + length

    return None
