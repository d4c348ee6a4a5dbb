"""Streamed upload of one large video through the HTTP API, against ``cp``.

Generates a file of ``--mb`` MiB (default 1024) that libmagic and Kejian's own sniffer
take for an MP4 video (an ISO-BMFF ``ftyp`` box, an ``mdat`` box of random bytes and a
small ``moov`` box), then, in the same run:

- baseline: ``cp`` of the file to another file of the same filesystem, and ``cp``
  followed by an fsync of the copy (the object store fsyncs what it keeps);
- the upload: ``POST /api/v1/resources/<id>/files?name=big.mp4`` with the file as
  the raw body (``Content-Length``, no multipart), to gunicorn on the embedded
  defaults, while the worker's resident memory is sampled every 20 ms and the
  instance's temporary folders are watched to tell the server's phases apart.

It prints both throughputs, their ratio, the growth of the server's resident memory
during the upload (goal: under 64 MiB) and checks the size and SHA-256 that the API
reports against the file sent. MB means 2**20 bytes here, as in ``--mb``.

    .venv/bin/python bench/upload.py --mb 1024
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import http.client
import json
import os
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Self
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    MIB,
    Client,
    Instance,
    RssSampler,
    Server,
    add_output_arguments,
    make_instance,
    memory_kib,
    seed_city,
    verdict,
    workdir,
    write_result,
)

#: An ISO base media ``ftyp`` box: brand isom, compatible with iso2, avc1, mp41.
FTYP = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
RSS_GOAL_MIB = 64
#: Kejian's default KEJIAN_MAX_UPLOAD_MB; the benchmark runs on the defaults.
DEFAULT_LIMIT_MB = 2048


def moov_box(duration_seconds: int = 600) -> bytes:
    """A ``moov`` box holding only a version-0 ``mvhd`` (timescale 1000)."""
    matrix = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    mvhd_body = (
        struct.pack(">B3xIIII", 0, 0, 0, 1000, duration_seconds * 1000)
        + struct.pack(">IH10x", 0x10000, 0x100)
        + matrix
        + bytes(24)
        + struct.pack(">I", 2)
    )
    mvhd = struct.pack(">I4s", 8 + len(mvhd_body), b"mvhd") + mvhd_body
    return struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd


def write_video(path: Path, size: int) -> str:
    """Write an MP4-shaped file of exactly *size* bytes; return its SHA-256.

    The ``mdat`` payload is fresh random bytes, so nothing on the way can compress
    or deduplicate it.
    """
    moov = moov_box()
    payload = size - len(FTYP) - 8 - len(moov)
    if payload < 0:
        raise ValueError(f"{size} bytes is too small for the MP4 boxes")
    if 8 + payload >= 2**32:
        raise ValueError("files of 4 GiB or more need a 64-bit mdat box; not supported")

    digest = hashlib.sha256()
    with path.open("wb") as out:
        for piece in (FTYP, struct.pack(">I4s", 8 + payload, b"mdat")):
            out.write(piece)
            digest.update(piece)
        left = payload
        while left:
            chunk = os.urandom(min(MIB, left))
            out.write(chunk)
            digest.update(chunk)
            left -= len(chunk)
        out.write(moov)
        digest.update(moov)
    return digest.hexdigest()


def check_sniffing(path: Path) -> str:
    """The MIME type libmagic gives; fail unless both it and Kejian say video."""
    import magic

    from indexer.extract import sniff

    with path.open("rb") as fh:
        libmagic = magic.from_buffer(fh.read(64 * 1024), mime=True)
    mime, kind = sniff(path, path.name)
    if not libmagic.startswith("video/") or kind != "video":
        raise SystemExit(
            f"the generated file sniffs as {libmagic} (libmagic) and {mime}/{kind} "
            "(Kejian); the server would refuse it"
        )
    return libmagic


def time_cp(source: Path, target: Path, *, fsync: bool) -> float:
    """Seconds of ``cp source target`` (and an fsync of the copy when *fsync*)."""
    os.sync()  # start from clean page-cache state: no earlier writes to flush
    began = time.perf_counter()
    subprocess.run(["cp", str(source), str(target)], check=True)
    if fsync:
        fd = os.open(target, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    spent = time.perf_counter() - began
    target.unlink()
    return spent


class PhaseWatcher:
    """Watches the instance's temporary folders during one request and records when
    each file appears and disappears (seconds from :attr:`t0`).

    ``tmp/upload-*`` is the server's spool of the request body, ``objects/tmp/*`` the
    object store's copy, ``tmp/extract-*`` the extraction job's copy.
    """

    def __init__(self, home: Path, interval: float = 0.05) -> None:
        self.folders = {
            "spool/extract": home / "tmp",
            "store": home / "objects" / "tmp",
        }
        self.interval = interval
        self.t0 = time.perf_counter()
        self.seen: dict[str, list[float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self.t0 = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.perf_counter() - self.t0
            for label, folder in self.folders.items():
                with contextlib.suppress(OSError):
                    for name in os.listdir(folder):
                        if name.startswith("probe-"):
                            continue
                        key = f"{folder.name}/{name}" if label == "store" else name
                        span = self.seen.setdefault(key, [now, now])
                        span[1] = now
            self._stop.wait(self.interval)

    def phases(self) -> list[tuple[str, float, float]]:
        labels = []
        for key, (first, last) in sorted(self.seen.items(), key=lambda kv: kv[1][0]):
            if key.startswith("tmp/"):
                what = "object store: spool copied to objects/tmp, hashed, fsynced"
            elif key.startswith("upload-"):
                what = "spool file tmp/upload-* exists (body received, sniffed, stored)"
            elif key.startswith("extract-"):
                what = "extraction job: object copied to tmp/extract-*, read"
            else:
                what = key
            labels.append((what, first, last + self.interval))
        return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="file size in MiB")
    parser.add_argument("--repeat", type=int, default=3, help="rounds, median kept")
    add_output_arguments(parser)
    args = parser.parse_args()
    if args.mb > DEFAULT_LIMIT_MB - 1:
        parser.error(f"--mb must stay under the default limit of {DEFAULT_LIMIT_MB} MB")

    size = args.mb * MIB
    with workdir(args.workdir, "kejian-bench-upload-", args.keep) as work:
        run(work, size, args.repeat, args.json_out)


def send_file(
    port: int, path: str, video: Path, token: str | None = None
) -> tuple[float, float, int, bytes]:
    """POST *video* as the raw body; return (seconds until the body was sent,
    seconds until the response was read, status, response body)."""
    headers = {
        "Content-Length": str(video.stat().st_size),
        "Content-Type": "application/octet-stream",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    # http.client sends a file body in blocks of `blocksize` bytes.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900, blocksize=MIB)
    try:
        with video.open("rb") as body:
            t0 = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            sent = time.perf_counter() - t0
            response = conn.getresponse()
            data = response.read()
            done = time.perf_counter() - t0
    finally:
        conn.close()
    return sent, done, response.status, data


def refresh(video: Path) -> str:
    """Give *video* new content (random bytes at the start of its ``mdat``
    payload), so that the server cannot take it as a file it already keeps; return
    the new SHA-256."""
    with video.open("r+b") as fh:
        fh.seek(len(FTYP) + 8)
        fh.write(os.urandom(64))
    digest = hashlib.sha256()
    with video.open("rb") as fh:
        while chunk := fh.read(MIB):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class Attempt:
    """One upload of the file through the API."""

    seconds: float
    sent: float
    growth_mib: float
    phases: list[tuple[str, float, float]]
    verified: bool
    extraction: str


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def run(work: Path, size: int, repeat: int, json_out: Path | None) -> None:
    mb = size / MIB
    print(
        f"upload benchmark: {mb:.0f} MB video, raw body, gunicorn 1 worker x 4 "
        f"threads, {repeat} rounds"
    )

    began = time.perf_counter()
    video = work / "big.mp4"
    write_video(video, size)
    libmagic = check_sniffing(video)
    small = work / "small.mp4"
    write_video(small, 256 * 1024)
    print(f"generated {video.name} in {time.perf_counter() - began:.1f} s ({libmagic})")

    instance = make_instance(work / "instance")
    seeded = seed_city(instance.app())
    # The same gunicorn receiving the same body into a hashed temporary file, and
    # nothing else: what any server has to spend on an upload.
    receiver_env = {**instance.env, "BENCH_SPOOL_DIR": str(instance.home)}
    receiver = Server(
        Instance(home=instance.home, env=receiver_env),
        app="_null_app:app",
        ready_path="/",
    )

    cp_runs: list[float] = []
    cp_sync_runs: list[float] = []
    minimal_runs: list[float] = []
    attempts: list[Attempt] = []
    copy = work / "copy.bin"
    with receiver, Server(instance) as server:
        client = Client(server.port, seeded.token)
        assert server.worker_pid is not None

        # Warm both servers: a small upload takes the same view, services and store.
        send_file(receiver.port, "/", small)
        warm_id = create_resource(client, "热身 warm-up")
        path = f"/api/v1/resources/{warm_id}/files?name=small.mp4"
        _, _, status, data = send_file(server.port, path, small, seeded.token)
        if status != 201:
            raise SystemExit(f"warm-up upload failed: {status} {data[:500]!r}")
        for _ in range(20):
            client.get("/api/v1/health")

        # Rounds: every measurement once per round, on new content each round.
        for _ in range(repeat):
            sha256 = refresh(video)
            cp_runs.append(time_cp(video, copy, fsync=False))
            cp_sync_runs.append(time_cp(video, copy, fsync=True))

            os.sync()
            _, seconds, status, data = send_file(receiver.port, "/", video)
            if status != 201 or json.loads(data)["sha256"] != sha256:
                raise SystemExit(
                    f"the minimal receiver failed: {status} {data[:300]!r}"
                )
            minimal_runs.append(seconds)

            resource_id = create_resource(client, "大文件上传 benchmark video")
            os.sync()
            attempts.append(
                upload_once(
                    instance, server, client, seeded.token, resource_id, video, sha256
                )
            )
        client.close()

    upload_seconds = median([a.seconds for a in attempts])
    cp_seconds, cp_sync_seconds = median(cp_runs), median(cp_sync_runs)
    minimal_seconds = median(minimal_runs)
    growth_mib = max(a.growth_mib for a in attempts)
    verified = all(a.verified for a in attempts)

    print()
    for number, attempt in enumerate(attempts, 1):
        print(
            f"round {number}: phases seen in the instance folders (s from the start):"
        )
        for what, first, last in attempt.phases:
            print(f"  {first:6.1f} – {last:6.1f}  {what}")
        print(f"  {attempt.sent:6.1f}           client finished sending the body")
        print(f"  {attempt.seconds:6.1f}           response 201 received")
    print()
    print(f"median of {repeat} rounds (all rounds in brackets, seconds):")
    rows = [
        ("cp (baseline)", cp_seconds, cp_runs),
        ("cp + fsync", cp_sync_seconds, cp_sync_runs),
        ("gunicorn minimal receiver", minimal_seconds, minimal_runs),
        ("upload through the API", upload_seconds, [a.seconds for a in attempts]),
    ]
    for label, seconds, runs in rows:
        every = ", ".join(f"{r:.2f}" for r in runs)
        print(f"{label:<27}{mb / seconds:8.1f} MB/s  {seconds:6.2f} s  ({every})")
    upload_rate, cp_rate = mb / upload_seconds, mb / cp_seconds
    print(
        f"ratio upload/cp throughput {upload_rate / cp_rate:.3f} "
        f"(the upload takes x{upload_seconds / cp_seconds:.1f} the time of cp, "
        f"x{upload_seconds / cp_sync_seconds:.1f} of cp + fsync, "
        f"x{upload_seconds / minimal_seconds:.1f} of the minimal receiver)"
    )
    print(
        f"server peak RSS growth during an upload {growth_mib:.1f} MiB, worst of "
        f"{repeat} (goal < {RSS_GOAL_MIB} MiB: {verdict(growth_mib < RSS_GOAL_MIB)})"
    )
    print(
        f"stored objects: size and sha256 in the API response "
        f"{'match the file sent' if verified else 'DO NOT MATCH'} in "
        f"{sum(a.verified for a in attempts)}/{repeat} rounds; extraction "
        f"{', '.join(sorted({a.extraction for a in attempts}))}"
    )
    write_result(
        json_out,
        {
            "mb": mb,
            "rounds": repeat,
            "upload_mb_s": round(upload_rate, 1),
            "cp_mb_s": round(cp_rate, 1),
            "cp_fsync_mb_s": round(mb / cp_sync_seconds, 1),
            "minimal_receiver_mb_s": round(mb / minimal_seconds, 1),
            "ratio_upload_cp": round(upload_rate / cp_rate, 3),
            "rss_growth_mib": round(growth_mib, 1),
            "rss_goal_met": growth_mib < RSS_GOAL_MIB,
            "verified": verified,
        },
    )
    if not verified:
        raise SystemExit("a stored object does not match the file sent")


def upload_once(
    instance: Instance,
    server: Server,
    client: Client,
    token: str,
    resource_id: int,
    video: Path,
    sha256: str,
) -> Attempt:
    """Upload *video* to *resource_id* while watching the worker's memory and the
    instance's temporary folders; check what the API says it stored."""
    assert server.worker_pid is not None
    size = video.stat().st_size
    before = memory_kib(server.worker_pid)
    with (
        RssSampler(server.worker_pid) as sampler,
        PhaseWatcher(instance.home) as watcher,
    ):
        sent, seconds, status, data = send_file(
            server.port,
            f"/api/v1/resources/{resource_id}/files?name={quote('big.mp4')}",
            video,
            token,
        )
    after = memory_kib(server.worker_pid)
    if status != 201:
        raise SystemExit(f"upload failed: {status} {data[:1000]!r}")

    # VmHWM catches a peak shorter than the sampling interval, if it is a new one.
    peak_kib = max(
        sampler.peak_kib, after["VmHWM"] if after["VmHWM"] > before["VmHWM"] else 0
    )
    stored = next(f for f in json.loads(data)["files"] if f["name"] == "big.mp4")
    final = client.get(f"/api/v1/resources/{resource_id}").json()
    final_file = next(f for f in final["files"] if f["name"] == "big.mp4")
    on_disk = instance.home / "objects" / "objects" / sha256[:2] / sha256[2:4] / sha256
    verified = (
        stored["sha256"] == sha256
        and stored["size"] == size
        and on_disk.is_file()
        and on_disk.stat().st_size == size
    )
    return Attempt(
        seconds=seconds,
        sent=sent,
        growth_mib=(peak_kib - before["VmRSS"]) / 1024,
        phases=watcher.phases(),
        verified=verified,
        extraction=f"{stored['extraction']} in the response, "
        f"{final_file['extraction']} after",
    )


def create_resource(client: Client, title: str) -> int:
    answer = client.post_json("/api/v1/resources", {"title": title})
    if answer.status != 201:
        raise SystemExit(
            f"cannot create a resource: {answer.status} {answer.body[:500]!r}"
        )
    return int(answer.json()["id"])


if __name__ == "__main__":
    main()
