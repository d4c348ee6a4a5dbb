"""The ``kejian`` command, built on Flask's CLI.

``kejian run`` and ``kejian db upgrade`` come from Flask and Flask-Migrate; the commands
here manage organisations, users and tokens, import courseware, search, reindex, check
the index against the database, run the job worker and set up the demo. Commands that
print data take ``--json`` and then print exactly one JSON document on standard output.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from tqdm import tqdm

from config.settings import SettingsError

if TYPE_CHECKING:
    from repo_app.services.index_check import CheckReport

log = logging.getLogger("kejian.cli")


def _create_app():  # type: ignore[no-untyped-def]
    from indexer.engines.base import SearchEngineError
    from repo_app import create_app
    from storage.errors import StorageError

    try:
        app = create_app()
    except (SettingsError, StorageError, SearchEngineError) as exc:
        # One line naming the setting; no traceback for a configuration mistake.
        click.echo(f"kejian: {exc}", err=True)
        sys.exit(2)
    if sys.argv[1:2] == ["run"]:
        warn_of_pending_migrations(app)
        warn_of_outdated_index(app)
    return app


def warn_of_outdated_index(app: Any) -> bool:
    """Say on standard error when the search index was built by another version
    of Kejian, older or newer (searches answer 503 until ``kejian reindex``); True
    when it was."""
    from indexer.engines.base import IndexOutdated, SearchEngineError

    try:
        app.extensions["kejian"].engine.check()
        return False
    except IndexOutdated:
        click.echo(
            "kejian: the search index was built by another version of Kejian: run "
            "'kejian reindex' (until then searches answer 503).",
            err=True,
        )
        return True
    except SearchEngineError:
        return False  # down rather than outdated: /api/v1/health tells


def warn_of_pending_migrations(app: Any) -> bool:
    """Say on standard error when the database is behind this version's migrations
    (pages that read the changed tables fail until ``kejian db upgrade``); True
    when it is."""
    from sqlalchemy.exc import SQLAlchemyError

    from repo_app.api.meta import PendingMigrations, check_schema
    from repo_app.extensions import db

    with app.app_context():
        try:
            check_schema()
            return False
        except (PendingMigrations, SQLAlchemyError):
            db.session.rollback()
    click.echo(
        "kejian: the database is behind this version of Kejian: run "
        "'kejian db upgrade' first (until then pages that need the new tables fail).",
        err=True,
    )
    return True


def _fail(message: str) -> None:
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


def _domain_errors(fn):  # type: ignore[no-untyped-def]
    """Turn domain errors into one readable line and exit status 1."""
    import functools

    from repo_app.errors import KejianError
    from storage.errors import StorageError

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from repo_app.extensions import db

        try:
            return fn(*args, **kwargs)
        except (KejianError, StorageError, ValueError) as exc:
            db.session.rollback()
            _fail(getattr(exc, "message", None) or str(exc))

    return wrapper


@click.group(cls=FlaskGroup, create_app=_create_app, add_version_option=False,
             load_dotenv=False, set_debug_flag=False)
def main() -> None:
    """Kejian (课件): the city's shared courseware repository."""


#: Kejian's own commands. They are added to each application's ``app.cli`` (see
#: :func:`register_commands`), which is where ``kejian`` and ``flask`` find them.
commands = click.Group("kejian-commands")


def register_commands(app) -> None:  # type: ignore[no-untyped-def]
    for command in commands.commands.values():
        app.cli.add_command(command)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def _progress(total: int, desc: str, unit: str = "file") -> tqdm:
    # A bar on a terminal only; logs and pipes get the summary line instead.
    return tqdm(total=total, desc=desc, unit=unit, disable=not sys.stderr.isatty(),
                file=sys.stderr, dynamic_ncols=True)


# -- organisations ----------------------------------------------------------------

@commands.group()
def org() -> None:
    """Organisations: city, districts, schools."""


@org.command("add")
@click.argument("code")
@click.option("--name", required=True)
@click.option("--kind", required=True, type=click.Choice(["city", "district", "school", "network", "community"]))
@click.option("--parent", default=None, help="code of the parent organisation")
@click.option("--locality", type=click.Choice(["urban", "town", "rural"]), default=None,
              help="城区 urban / 镇区 town / 乡村 rural")
@with_appcontext
@_domain_errors
def org_add(code: str, name: str, kind: str, parent: str | None, locality: str | None) -> None:
    from repo_app.extensions import db
    from repo_app.services.accounts import add_org

    created = add_org(code, name, kind, parent, locality)
    db.session.commit()
    click.echo(f"Added {created.kind.value} {created.code} ({created.name}).")


@org.command("list")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def org_list(as_json: bool) -> None:
    from sqlalchemy import select

    from repo_app.extensions import db
    from repo_app.models import Organisation

    orgs = db.session.scalars(select(Organisation).order_by(Organisation.id)).all()
    rows = [
        {"code": o.code, "name": o.name, "kind": o.kind.value,
         "locality": o.locality.value if o.locality else None,
         "parent": o.parent.code if o.parent else None}
        for o in orgs
    ]
    if as_json:
        _echo_json(rows)
        return
    for row in rows:
        click.echo(f"{row['code']:<16} {row['kind']:<10} {row['locality'] or '-':<6} "
                   f"{row['parent'] or '-':<12} {row['name']}")


# -- users and tokens -------------------------------------------------------------

@commands.group()
def user() -> None:
    """Users and their roles."""


@user.command("add")
@click.argument("username")
@click.option("--role", "roles", multiple=True, metavar="ORG:ROLE",
              help="e.g. school-1:uploader (repeatable); roles: admin, reviewer, uploader, teacher")
@click.option("--name", "display_name", default="")
@click.option("--password", default=None, help="prompted for when omitted on a terminal")
@click.option("--no-password", is_flag=True, help="API token access only")
@with_appcontext
@_domain_errors
def user_add(username: str, roles: tuple[str, ...], display_name: str, password: str | None,
             no_password: bool) -> None:
    from repo_app.extensions import db
    from repo_app.services.accounts import add_user

    pairs = []
    for item in roles:
        code, sep, role = item.rpartition(":")
        if not sep or role not in ("admin", "reviewer", "uploader", "teacher"):
            _fail(f"--role takes ORG:ROLE with ROLE admin, reviewer, uploader or teacher; got {item!r}")
        pairs.append((code, role))
    if password is None and not no_password:
        if not sys.stdin.isatty():
            _fail("give --password or --no-password when not on a terminal")
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    created = add_user(username, None if no_password else password, display_name=display_name,
                       roles=pairs)
    db.session.commit()
    click.echo(f"Added user {created.username}.")


@commands.group()
def token() -> None:
    """API tokens."""


@token.command("create")
@click.argument("username")
@click.option("--name", default="", help="what the token is for")
@click.option("--days", type=click.IntRange(1, 3650), default=365, show_default=True)
@with_appcontext
@_domain_errors
def token_create(username: str, name: str, days: int) -> None:
    """Print a new API token for USERNAME (shown once)."""
    from repo_app.extensions import db
    from repo_app.services.accounts import create_token, user_by_name

    secret = create_token(user_by_name(username), name, days)
    db.session.commit()
    click.echo(secret)


# -- import, search, index --------------------------------------------------------

@commands.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--org", "org_code", required=True, help="owner organisation code")
@click.option("--metadata", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with a 'path' column and metadata columns")
@click.option("--visibility", type=click.Choice(["owner", "school", "district", "city", "public"]),
              default="school", show_default=True)
@click.option("--user", "username", default=None, help="record this user as the uploader")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
@_domain_errors
def import_(paths: tuple[Path, ...], org_code: str, metadata: Path | None, visibility: str,
            username: str | None, as_json: bool) -> None:
    """Import files or folders of courseware."""
    from repo_app.models import Visibility
    from repo_app.services.accounts import org_by_code, user_by_name
    from repo_app.services.importer import iter_files, read_metadata, run_import

    owner = org_by_code(org_code)
    uploader = user_by_name(username) if username else None
    rows = read_metadata(metadata) if metadata else None
    roots = [p.resolve() for p in paths]
    total = sum(1 for _ in iter_files(roots))
    started = time.monotonic()
    with _progress(total, "import") as bar:
        summary = run_import(roots, owner, visibility=Visibility(visibility), metadata=rows,
                             uploader=uploader, progress=lambda _name: bar.update(1))
    elapsed = time.monotonic() - started
    if as_json:
        doc = summary.as_json()
        doc["seconds"] = round(elapsed, 3)
        _echo_json(doc)
        return
    counts = summary.as_json()["counts"]
    click.echo(
        f"Imported {counts['imported']}, duplicates {counts['duplicates']}, "
        f"already imported {counts['already_imported']}, rejected {counts['rejected']} "
        f"in {elapsed:.1f} s."
    )
    for item in summary.rejected:
        click.echo(f"  rejected {item['path']}: {item['reason']}")
    for row_path in summary.unmatched_rows:
        click.echo(f"  metadata row names no file: {row_path}")


@commands.command("search")
@click.argument("query", default="")
@click.option("--stage")
@click.option("--grade")
@click.option("--subject")
@click.option("--edition")
@click.option("--volume")
@click.option("--type", "resource_type")
@click.option("--licence")
@click.option("--language")
@click.option("--org", "owner_org")
@click.option("--district")
@click.option("--sort", type=click.Choice(["relevance", "newest", "popular"]), default="relevance")
@click.option("--limit", type=click.IntRange(1, 100), default=10)
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
@_domain_errors
def search_cmd(query: str, sort: str, limit: int, as_json: bool, **facets: str | None) -> None:
    """Search everything (the command line sees all resources)."""
    from repo_app.security import Principal
    from repo_app.services import search as search_service

    filters = {k: [v] for k, v in facets.items() if v}
    result = search_service.search(
        Principal.command_line(), text=query, filters=search_service.parse_filters(filters),
        facets=None, sort=sort, page=1, per_page=limit,
    )
    if as_json:
        doc = dict(result)
        _echo_json(doc)
        return
    click.echo(f"{result['total']} results")
    for hit in result["hits"]:
        click.echo(f"{hit['id']:>6}  {hit['title']}  [{hit['owner_org']['code']}]")


@commands.command("reindex")
@with_appcontext
@_domain_errors
def reindex() -> None:
    """Rebuild the search index from the database; searches go on meanwhile."""
    from indexer.engines.base import SearchEngineError
    from repo_app.extensions import db

    try:
        done, seconds = _reindex_all()
    except SearchEngineError as exc:
        # The new index was removed; searches still use the one they had.
        db.session.rollback()
        _fail(f"reindex failed, the search index is unchanged: {exc}")
    click.echo(f"Indexed {done} resources in {seconds:.1f} s.")


def _reindex_all() -> tuple[int, float]:
    """Rebuild the search index with a progress bar; the resources indexed and the
    seconds it took."""
    from sqlalchemy import func, select

    from repo_app.extensions import db
    from repo_app.models import Resource
    from repo_app.services import indexing

    total = db.session.scalar(select(func.count()).select_from(Resource)) or 0
    started = time.monotonic()
    with _progress(total, "reindex") as bar:
        done = indexing.reindex_all(progress=bar.update)
    return done, time.monotonic() - started


@commands.command("check")
@click.option("--fix", is_flag=True,
              help="re-index missing and stale resources, remove extra documents, "
                   "rebuild an index of an older layout")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
@_domain_errors
def check(fix: bool, as_json: bool) -> None:
    """Compare the search index with the database; exit 1 when they differ.

    Missing, stale and extra documents are counted with examples, beside the index
    changes waiting in the outbox and those whose delivery failed. With --fix they
    are repaired through the outbox and the index is checked again. An index built
    by an older version of Kejian has every document stale; --fix rebuilds it.
    """
    from sqlalchemy import func, select

    from indexer.engines.base import SearchEngineError
    from repo_app.extensions import db
    from repo_app.models import Resource
    from repo_app.services import index_check

    total = db.session.scalar(select(func.count()).select_from(Resource)) or 0
    repaired = after = None
    try:
        with _progress(total, "check", "resource") as bar:
            report = index_check.check(progress=bar.update)
        if fix and not report.consistent:
            work = report.outbox.queued + len(report.missing) + len(report.stale)
            with _progress(work + len(report.extra), "repair", "resource") as bar:
                repaired = index_check.repair(report, progress=bar.update)
            with _progress(total, "check again", "resource") as bar:
                after = index_check.check(progress=bar.update)
    except SearchEngineError as exc:
        db.session.rollback()
        _fail(f"the search index cannot be read or written: {exc}")
    final = after or report

    if as_json:
        doc = report.as_json()
        if repaired is not None and after is not None:
            doc["fix"] = repaired.as_json()
            doc["after"] = after.as_json()
        _echo_json(doc)
    else:
        _echo_check(report)
        if repaired is not None and after is not None:
            if report.outdated:
                click.echo(f"Rebuilt: {repaired.rebuilt} documents in a new index.")
            click.echo(
                f"Repaired: {repaired.queued} resources queued again, "
                f"{repaired.removed} foreign ids removed; {repaired.delivered} "
                f"changes delivered, {repaired.failed} failed."
            )
            click.echo("After the repair:")
            _echo_check(after)
        if final.outdated:
            hint = "" if fix else " ('kejian check --fix' does it too)"
            click.echo(f"Every document is stale: {final.outdated}{hint}.")
        elif not final.consistent:
            hint = "" if fix else "; 'kejian check --fix' repairs it"
            click.echo(f"The search index differs from the database{hint}.")
    sys.exit(0 if final.consistent else 1)


def _echo_check(report: CheckReport) -> None:
    """Print an :class:`~repo_app.services.index_check.CheckReport` for people."""
    documents = (
        "an index of an older layout"
        if report.outdated
        else f"{report.documents} documents in the index"
    )
    click.echo(
        f"{report.resources} resources, {documents} "
        f"(checked in {report.seconds:.1f} s)."
    )
    for name in ("missing", "stale", "extra"):
        ids = getattr(report, name)
        shown = ", ".join(str(i) for i in ids[:10]) + (" …" if len(ids) > 10 else "")
        click.echo(f"  {name:<8} {len(ids):>6}  {shown}".rstrip())
    outbox = report.outbox
    click.echo(
        f"  queued   {outbox.queued:>6}  changes waiting for delivery; "
        f"{outbox.failing} failing, {report.late} late"
    )
    for failure in outbox.failures[:5]:
        click.echo(
            f"    resource {failure['resource']}: {failure['attempts']} attempts, "
            f"next at {failure['next_attempt_at']}: {failure['error']}"
        )


@commands.command("worker")
@click.option("--once", is_flag=True, help="run what is queued, deliver the index outbox, exit")
@click.option("--workers", type=click.IntRange(1, 16), default=1)
@with_appcontext
def worker(once: bool, workers: int) -> None:
    """Run background jobs (extraction, index delivery)."""
    from repo_app.jobs import run_pending
    from repo_app.runtime import runtime
    from repo_app.services import indexing

    rt = runtime()
    if once:
        ran = 0 if rt.settings.embedded_queue else run_pending(rt.huey)
        delivered, failed = indexing.deliver(ignore_backoff=True)
        click.echo(f"Ran {ran} jobs; delivered {delivered} index changes, {failed} failed.")
        # What still waits, and why: failed changes are retried after a back-off.
        for failure in indexing.outbox_status(examples=5).failures:
            click.echo(f"  resource {failure['resource']} waits after "
                       f"{failure['attempts']} attempts: {failure['error']}")
        sys.exit(1 if failed else 0)
    if rt.settings.embedded_queue:
        _fail("jobs run inline without KEJIAN_QUEUE_URL; set it to redis://… to use a worker")
    consumer = rt.huey.create_consumer(workers=workers, worker_type="thread", periodic=False)
    consumer.run()


# -- demo -------------------------------------------------------------------------

DEMO_ORGS = [
    ("demo-city", "示范市", "city", None, None),
    ("demo-d1", "城东区", "district", "demo-city", "urban"),
    ("demo-d2", "山南县", "district", "demo-city", "rural"),
    ("demo-s1", "城东第一中学", "school", "demo-d1", "urban"),
    ("demo-s2", "城东实验小学", "school", "demo-d1", "urban"),
    ("demo-s3", "山南县青石镇中学", "school", "demo-d2", "town"),
    ("demo-s4", "山南县石门村小学", "school", "demo-d2", "rural"),
]

DEMO_USERS = [
    ("admin", "demo-city", "admin"),
    ("reviewer", "demo-d1", "reviewer"),
    ("uploader", "demo-s1", "uploader"),
    ("teacher", "demo-s4", "teacher"),
]

#: Demo folders and the school that imports them.
DEMO_IMPORTS = [
    ("pdf", "demo-s1"),
    ("office", "demo-s2"),
    ("zh", "demo-s3"),
    ("media", "demo-s4"),
    ("package", "demo-s1"),
    ("broken", "demo-s2"),
]

DEMO_PASSWORD = "kejian-demo"


@commands.command("demo")
@click.option("--dir", "demo_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="folder to import (default KEJIAN_DEMO_DIR or ../shared/corpus)")
@with_appcontext
@_domain_errors
def demo(demo_dir: Path | None) -> None:
    """Create the demo city (2 districts, 4 schools, 4 users) and import the demo folder."""
    from sqlalchemy import select

    from repo_app.extensions import db
    from repo_app.models import Organisation, User, Visibility
    from repo_app.runtime import runtime
    from repo_app.services.accounts import add_org, add_user, load_chapters, org_by_code
    from repo_app.services.importer import iter_files, run_import

    for code, name, kind, parent, locality in DEMO_ORGS:
        if db.session.scalar(select(Organisation).where(Organisation.code == code)) is None:
            add_org(code, name, kind, parent, locality)
            db.session.flush()
    for username, org_code, role in DEMO_USERS:
        if db.session.scalar(select(User).where(User.username == username)) is None:
            add_user(username, DEMO_PASSWORD, roles=[(org_code, role)])
    load_chapters()
    db.session.commit()
    click.echo(f"Demo city ready; users {', '.join(u for u, _, _ in DEMO_USERS)} "
               f"(password {DEMO_PASSWORD}).")
    _rebuild_outdated_index()

    folder = demo_dir or runtime().settings.demo_dir
    if folder is None or not folder.is_dir():
        click.echo("No demo folder (set KEJIAN_DEMO_DIR); nothing imported.")
        return
    jobs = [(folder / sub, code) for sub, code in DEMO_IMPORTS if (folder / sub).is_dir()]
    if not jobs:
        jobs = [(folder, "demo-s1")]
    total = sum(1 for job in jobs for _ in iter_files([job[0]]))
    counts = {"imported": 0, "duplicates": 0, "rejected": 0, "already": 0}
    with _progress(total, "demo import") as bar:
        for path, code in jobs:
            summary = run_import([path], org_by_code(code), visibility=Visibility.PUBLIC,
                                 progress=lambda _n: bar.update(1))
            counts["imported"] += len(summary.imported)
            counts["duplicates"] += len(summary.duplicates)
            counts["rejected"] += len(summary.rejected)
            counts["already"] += len(summary.skipped)
    click.echo(f"Demo import from {folder}: imported {counts['imported']}, "
               f"duplicates {counts['duplicates']}, rejected {counts['rejected']}, "
               f"already there {counts['already']}.")


def _rebuild_outdated_index() -> None:
    """Rebuild the search index when another version of Kejian built it, so that
    ``make run`` after an upgrade serves searches again."""
    from indexer.engines.base import IndexOutdated
    from repo_app.runtime import runtime

    try:
        runtime().engine.check()
        return
    except IndexOutdated:
        pass
    done, seconds = _reindex_all()
    click.echo(
        f"The search index had another layout: rebuilt with {done} resources in "
        f"{seconds:.1f} s."
    )


@commands.command("check-config")
@with_appcontext
def check_config() -> None:
    """Read the settings and say what this instance would use."""
    settings = current_app.extensions["kejian"].settings
    click.echo(f"home      {settings.home}")
    click.echo(f"database  {settings.database_url.split('@')[-1]}")
    click.echo(f"storage   {settings.storage_url or 'local disk in the instance'}")
    click.echo(f"search    {settings.search_url or 'embedded index in the instance'}")
    click.echo(f"queue     {settings.queue_url or 'inline (embedded)'}")


# -- maintenance ------------------------------------------------------------------


@commands.command("gc")
@click.option("--dry-run", is_flag=True, help="count what would go; remove nothing")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
@_domain_errors
def gc(dry_run: bool, as_json: bool) -> None:
    """Remove stored files no resource refers to and leftovers of interrupted work.

    Only what is older than an hour goes, and uploads may go on meanwhile.
    """
    from repo_app.services.maintenance import collect_garbage

    started = time.monotonic()
    with _progress(0, "gc") as bar:

        def advance(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = collect_garbage(dry_run=dry_run, progress=advance)
    elapsed = time.monotonic() - started
    if as_json:
        doc = report.as_json()
        doc["seconds"] = round(elapsed, 3)
        _echo_json(doc)
        return

    verb = "Would remove" if dry_run else "Removed"
    click.echo(
        f"{verb} {report.files} unreferenced files ({_mib(report.file_bytes)}), "
        f"{report.orphans} objects without a record ({_mib(report.orphan_bytes)}) "
        f"and {report.leftovers} leftovers ({_mib(report.leftover_bytes)}) "
        f"in {elapsed:.1f} s; kept {report.young} younger than "
        f"{report.min_age.total_seconds() / 3600:g} h, skipped {report.busy} in use."
    )


def _mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
