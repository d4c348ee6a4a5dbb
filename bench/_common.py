"""Shared helpers of the benchmark scripts.

A benchmark runs against a fresh instance folder (``KEJIAN_HOME`` in a temporary
directory) on the embedded defaults: SQLite, the local-disk object store and the
tantivy index. The database is migrated with ``kejian db upgrade``; organisations, a
user and an API token are created with the account services; the server is the one
the Dockerfile runs (gunicorn, gthread worker), started as a subprocess on
``127.0.0.1`` and stopped when the benchmark ends.

Every figure a script prints is measured in the same run as a baseline on the same
machine, because absolute numbers say little about another machine.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

# Progress lines must appear as they happen, also when the output is piped.
sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from flask import Flask

#: Console scripts of the virtual environment the benchmark runs in.
BIN = Path(sys.executable).parent
MIB = 1024 * 1024

#: The organisations every benchmark instance starts with.
CITY = "bench-city"
DISTRICT = "bench-d1"
SCHOOL = "bench-s1"
UPLOADER = "bench-uploader"


# -- instance folders ----------------------------------------------------------------


@dataclass
class Instance:
    """A Kejian instance folder and the environment that points at it."""

    home: Path
    env: dict[str, str]

    def settings(self):  # type: ignore[no-untyped-def]
        from config.settings import load_settings

        return load_settings(self.env)

    def app(self) -> Flask:
        """A Flask app on this instance, in this process (for setup and in-process
        measurements)."""
        from repo_app import create_app

        return create_app(self.settings())


def clean_environment() -> dict[str, str]:
    """The environment without any ``KEJIAN_*`` setting of the caller's shell, so
    that a benchmark always runs on the embedded defaults."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KEJIAN_")}


def make_instance(home: Path, **settings: str) -> Instance:
    """Create an empty instance folder at *home* and migrate its database.

    :param settings: extra ``KEJIAN_*`` variables, e.g. ``KEJIAN_LOG_LEVEL="WARNING"``.
    """
    home.mkdir(parents=True, exist_ok=False)
    env = clean_environment()
    env["KEJIAN_HOME"] = str(home)
    env.update(settings)
    instance = Instance(home=home, env=env)
    kejian(instance, "db", "upgrade", timeout=120)
    return instance


def kejian(
    instance: Instance, *args: str, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run the ``kejian`` command on *instance*; raise with its output on failure."""
    done = subprocess.run(
        [str(BIN / "kejian"), *args],
        env=instance.env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(
            f"kejian {' '.join(args)} exited with {done.returncode}:\n"
            f"{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
        )
    return done


@dataclass
class Seeded:
    """What :func:`seed_city` created."""

    token: str
    uploader_id: int
    #: Organisation code -> database id.
    org_ids: dict[str, int] = field(default_factory=dict)
    schools: list[str] = field(default_factory=list)
    #: School code -> its district's code.
    district_of: dict[str, str] = field(default_factory=dict)


def seed_city(app: Flask, districts: int = 1, schools_per_district: int = 1) -> Seeded:
    """Create a city, its districts and schools, an uploader of the first school and
    an API token for that uploader.

    The first district is ``bench-d1`` and its first school ``bench-s1``.
    """
    from repo_app.extensions import db
    from repo_app.services.accounts import add_org, add_user, create_token

    seeded_schools: list[tuple[str, str]] = []
    with app.app_context():
        add_org(CITY, "基准市", "city")
        for d in range(1, districts + 1):
            district = f"bench-d{d}"
            locality = "urban" if d % 2 else "rural"
            add_org(district, f"第{d}区", "district", CITY, locality)
            for s in range(1, schools_per_district + 1):
                number = (d - 1) * schools_per_district + s
                school = f"bench-s{number}"
                kind = ("urban", "town", "rural")[number % 3]
                add_org(school, f"第{number}中学", "school", district, kind)
                seeded_schools.append((school, district))
        db.session.flush()
        user = add_user(UPLOADER, None, roles=[(SCHOOL, "uploader")])
        db.session.flush()
        token = create_token(user, "benchmark", days=1)
        db.session.commit()

        from sqlalchemy import select

        from repo_app.models import Organisation

        ids = dict(db.session.execute(select(Organisation.code, Organisation.id)).all())
        return Seeded(
            token=token,
            uploader_id=user.id,
            org_ids=ids,
            schools=[s for s, _ in seeded_schools],
            district_of=dict(seeded_schools),
        )


def _folder(value: str) -> Path:
    path = Path(value).expanduser().resolve()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no folder at {path}")
    return path


def add_corpus_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """Add ``--corpus``: *what* the folder is for, by default ``../shared/corpus``."""
    parser.add_argument(
        "--corpus",
        type=_folder,
        default=str(REPO.parent / "shared" / "corpus"),
        help=f"{what} (default ../shared/corpus)",
    )


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--workdir``, ``--keep`` and ``--json-out``, which every benchmark takes."""
    parser.add_argument("--workdir", type=Path, help="work here (kept) instead of /tmp")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--json-out", type=Path, help="write the key figures here")


@contextlib.contextmanager
def workdir(given: Path | None, prefix: str, keep: bool) -> Iterator[Path]:
    """A working directory: *given* (kept) or a new temporary one, removed at the
    end unless *keep*."""
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return

    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            print(f"kept {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


# -- an Elasticsearch cluster -------------------------------------------------------


@dataclass
class Cluster:
    """An Elasticsearch cluster to measure, and the alias the benchmark may use."""

    #: ``elasticsearch`` (a cluster given by URL) or ``osmem`` (osmem-server).
    kind: str
    url: str
    #: ``KEJIAN_SEARCH_INDEX`` for the benchmark: indices named after it are removed
    #: at the end.
    alias: str
    #: Why the cluster cannot be measured (the engine is missing), else ``None``.
    problem: str | None = None


def add_cluster_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--es-url URL`` and ``--osmem``, the choices of
    :func:`elasticsearch_cluster`."""
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--es-url",
        help="measure Elasticsearch at this URL (http(s)://[user:password@]host:port); "
        "use a test cluster: the benchmark creates, then deletes, indices named "
        "kejian-bench-*",
    )
    choice.add_argument(
        "--osmem",
        action="store_true",
        help="measure Elasticsearch on osmem-server (from PyPI), started here",
    )


@contextlib.contextmanager
def elasticsearch_cluster(url: str | None, osmem: bool) -> Iterator[Cluster | None]:
    """The cluster a benchmark asked for: *url*, or osmem-server started here when
    *osmem*; ``None`` when it asked for neither.

    osmem-server runs a clone of an empty base (``OsmemServer.start().clone()``)
    behind the proxy the tests use (``tests/search_cluster.py``), which turns the
    Elasticsearch client's versioned media types into plain ones that osmem
    accepts. The proxy runs in a process of its own so that its work does not
    share the benchmark's interpreter lock. On a cluster given by URL, the indices
    and template named after the alias are deleted at the end.
    """
    if not url and not osmem:
        yield None
        return

    kind = "osmem" if osmem else "elasticsearch"
    alias = f"kejian-bench-{uuid.uuid4().hex[:10]}"
    try:
        import indexer.engines.elasticsearch_engine  # noqa: F401
    except ImportError as exc:
        yield Cluster(
            kind,
            url or "",
            alias,
            problem="this tree has no Elasticsearch engine "
            f"(indexer/engines/elasticsearch_engine.py: {exc})",
        )
        return

    from tests.search_cluster import SearchCluster

    if url:
        try:
            yield Cluster(kind, url, alias)
        finally:
            admin = SearchCluster(kind, url)
            admin.remove(alias)
            admin.close()
        return

    from osmem_server import OsmemServer

    server = OsmemServer.start(japanese=False)
    clone = server.clone()
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    proxy = spawn.Process(target=_serve_proxy, args=(clone.url, theirs), daemon=True)
    proxy.start()
    try:
        if not ours.poll(60):
            raise RuntimeError("the proxy in front of osmem-server did not start")
        yield Cluster(kind, ours.recv(), alias)
    finally:
        ours.send("stop")
        proxy.join(timeout=10)
        clone.close()
        server.close()


def _serve_proxy(target: str, control: Connection) -> None:
    """Serve the tests' osmem proxy in front of *target* until told to stop."""
    from tests.search_cluster import ClusterProxy

    proxy = ClusterProxy(target, osmem=True)
    control.send(proxy.url)
    with contextlib.suppress(EOFError):
        control.recv()
    proxy.close()


# -- the server ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """gunicorn serving ``repo_app:create_app()`` on 127.0.0.1, as the Dockerfile
    runs it but with one worker process (``threads`` threads).

    Use as a context manager; the server's output goes to ``server.log`` in the
    instance folder and its last lines are shown when it fails to start.
    """

    def __init__(
        self,
        instance: Instance,
        *,
        threads: int = 4,
        app: str = "repo_app:create_app()",
        ready_path: str = "/api/v1/health",
    ) -> None:
        self.instance = instance
        self.threads = threads
        self.app = app
        self.ready_path = ready_path
        self.port = free_port()
        self.log_path = instance.home / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.worker_pid: int | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> None:
        command = [
            str(BIN / "gunicorn"),
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            str(self.threads),
            "--timeout",
            "300",
            "--graceful-timeout",
            "10",
            "--pythonpath",
            str(Path(__file__).resolve().parent),
            self.app,
        ]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                env=self.instance.env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited at start-up:\n{self.log_tail()}")
            try:
                status = http_get_status(self.port, self.ready_path)
            except OSError:
                status = 0
            if status == 200:
                self.worker_pid = self._find_worker()
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"the server did not answer in {timeout:g} s:\n{self.log_tail()}"
        )

    def _find_worker(self) -> int:
        """The pid of gunicorn's worker process (the child of the master)."""
        assert self.process is not None
        master = self.process.pid
        children = Path(f"/proc/{master}/task/{master}/children")
        with contextlib.suppress(OSError, ValueError):
            pids = [int(p) for p in children.read_text().split()]
            if pids:
                return pids[0]
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                # The command name may hold spaces; the ppid follows its ')'.
                if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                    return int(entry.name)
        raise RuntimeError("cannot find the gunicorn worker process")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # SIGTERM to the master we started; it stops its worker.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def http_get_status(port: int, path: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@dataclass
class Response:
    status: int
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """One keep-alive HTTP/1.1 connection to the server.

    A request that finds the connection closed by the server (its keep-alive timeout)
    reconnects once; :attr:`reconnects` counts how often that happened.
    """

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token
        self.reconnects = 0
        self._conn = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(
            "127.0.0.1", self.port, timeout=600, blocksize=MIB
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        sent = dict(headers or {})
        if self.token:
            sent.setdefault("Authorization", f"Bearer {self.token}")
        for attempt in (1, 2):
            began = time.perf_counter()
            try:
                self._conn.request(method, path, body=body, headers=sent)
                response = self._conn.getresponse()
                data = response.read()
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
            ):
                self._conn.close()
                self._conn = self._connect()
                self.reconnects += 1
                if attempt == 2 or hasattr(body, "read"):
                    raise
                continue
            return Response(response.status, data, time.perf_counter() - began)
        raise AssertionError("unreachable")

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post_json(self, path: str, data: Any) -> Response:
        return self.request(
            "POST",
            path,
            body=json.dumps(data).encode(),
            headers={"Content-Type": "application/json"},
        )

    def close(self) -> None:
        self._conn.close()


# -- memory --------------------------------------------------------------------------


def memory_kib(pid: int) -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` (peak RSS since the process started) of *pid*, in KiB."""
    values: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


class RssSampler:
    """Samples a process's ``VmRSS`` in a thread and keeps the highest value.

    ``VmHWM`` alone cannot show the growth during one step when the process was
    larger before it; sampling can, at the price of missing spikes shorter than
    *interval*, so both are reported.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, KeyError):
                self.peak_kib = max(self.peak_kib, memory_kib(self.pid)["VmRSS"])
                self.samples += 1
            self._stop.wait(self.interval)


# -- statistics and output -----------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float:
    """The *pct* percentile of *values*, interpolated linearly between ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(seconds: Sequence[float]) -> dict[str, float]:
    """p50, p95, p99 and mean of *seconds*, in milliseconds."""
    millis = [s * 1000 for s in seconds]
    return {
        "n": len(millis),
        "p50": percentile(millis, 50),
        "p95": percentile(millis, 95),
        "p99": percentile(millis, 99),
        "mean": sum(millis) / len(millis),
    }


def verdict(met: bool) -> str:
    return "MET" if met else "NOT MET"


def write_result(path: Path | None, result: Mapping[str, Any]) -> None:
    """Write the key figures as JSON for ``bench/run_all.py``."""
    if path is None:
        return
    path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")


def dir_size(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.stat(os.path.join(root, name)).st_size
    return total
