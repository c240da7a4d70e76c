"""The `rca` command line: thin adapters over `rca.service` and the contract.

Every expected failure (a bad bundle, an unknown name, a bad parameter) prints one line on stderr and
exits with status 2; no traceback.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rca.contract.models import CauseKind
from rca.errors import BundleErrors, RcaError

if TYPE_CHECKING:  # the store's modules load only for the commands that open it
    from sqlmodel import Session

    from rca.config import Settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Rank the root causes of production ML incidents.")


def _version(value: bool) -> None:
    if value:
        from rca import __version__
        from rca.ranking.dataset import code_version

        typer.echo(f"rca {__version__} ({code_version()})")
        raise typer.Exit()


@app.callback()
def _root(show_version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                     help="print the version and the code's commit, then exit")
                                  ] = False) -> None:
    """Rank the root causes of production ML incidents."""


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


BundleArg = Annotated[Path, typer.Argument(help="bundle directory, or a .tar.gz, .tgz, .tar or .zip of one")]


@app.command()
def validate(bundle: BundleArg) -> None:
    """Check a bundle against the contract, and that the review service would take it, and report every problem
    found."""
    from rca.contract.load import check_bundle
    from rca.graph.build import bundle_notes
    from rca.service import refused_by_service

    problems, notes = check_bundle(bundle, incident_checks=refused_by_service, bundle_notes=bundle_notes)
    for note in notes:
        typer.echo(f"note: {note}")
    if problems:
        for line in problem_lines(problems):
            typer.echo(line, err=True)
        typer.echo(f"{bundle}: {len(problems)} problem(s)", err=True)
        raise typer.Exit(2)
    typer.echo(f"{bundle}: valid")


SAME_PROBLEM_SHOWN = 3
"""How many rows (lines) of one file with the same problem `rca validate` names before it counts the rest."""


def problem_lines(problems) -> list[str]:
    """One ``error:`` line per problem, but for a problem repeated on many rows of a file (a producer's systematic
    mistake): its first `SAME_PROBLEM_SHOWN`, then one line counting the others."""
    same: dict[tuple, list] = {}
    for problem in problems:
        same.setdefault((problem.file, problem.field, problem.message), []).append(problem)
    lines = []
    for (file, field, message), group in same.items():
        lines += [f"error: {problem}" for problem in group[:SAME_PROBLEM_SHOWN]]
        if len(group) > SAME_PROBLEM_SHOWN:
            rows = "lines" if (file or "").endswith(".jsonl") else "rows"
            lines.append(f"error: {file}: {len(group) - SAME_PROBLEM_SHOWN} more {rows} with the same problem"
                         + (f" (field {field!r})" if field else ""))
    return lines


@app.command()
def analyze(bundle: BundleArg,
            format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
            top: Annotated[int, typer.Option(min=1, max=100, help="how many causes to list")] = 10) -> None:
    """Rank the likely root causes of one incident."""
    from rca.contract import load_bundle
    from rca.service import analyze

    loaded = load_bundle(bundle)
    answer = analyze(loaded, top=top)
    if format is OutputFormat.json:
        typer.echo(answer.model_dump_json(indent=2))  # as the API shows it: every field, nulls too
    else:
        typer.echo(render_table(answer, families=loaded.families()))


@app.command()
def why(bundle: BundleArg,
        node: Annotated[str, typer.Argument(help="the node asked about, e.g. service:db")],
        kind: Annotated[CauseKind | None, typer.Option(help="its cause kind (default: its highest-ranked one)")
                        ] = None,
        versus: Annotated[str | None, typer.Option(help="the node to compare with (default: the first-ranked "
                                                        "one, or the second when NODE is first)")] = None,
        versus_kind: Annotated[CauseKind | None, typer.Option(help="that node's cause kind")] = None,
        features: Annotated[int, typer.Option(min=1, max=50, help="how many features to name")] = 8,
        format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table) -> None:
    """Why NODE ranks where it does: the features that split its score from another hypothesis' score."""
    import json

    from rca.contract import load_bundle
    from rca.generators import generate_candidates
    from rca.ranking.why import contrast, render_contrast
    from rca.service import get_ranker

    loaded = load_bundle(bundle)
    c = contrast(loaded, generate_candidates(loaded), get_ranker(), node=node, kind=kind and kind.value,
                 versus=versus, versus_kind=versus_kind and versus_kind.value, shown=features)
    if format is OutputFormat.json:
        typer.echo(c.model_dump_json(indent=2))
    else:
        typer.echo(render_contrast(c))


UNCOMPARED_NAMED = 4
"""How many services without a baseline the table names before it says "and N more"."""


EMPTY_WINDOW_HINT = "check the windows or the collection"


EXPLANATION_INDENT = 11
"""Columns before a cause's explanation, which goes on the lines under its row (under its kind and node)."""


def render_table(answer, *, families: list[str] | None = None, width: int | None = None) -> str:
    """A readable table of an answer, for terminals: a row per cause (rank, confidence, kind, node) and its
    explanation under it, wrapped to ``width`` (the terminal's by default; a long node name no longer pushes it
    off the line), without the node and kind the row names. With ``families`` (`Bundle.families`), a line saying
    which signal families the bundle had and which it lacked (a cause only those would show cannot be proposed); when
    the answer has ``not_compared`` services, a line naming them (nothing can be said of their metrics); when it
    has ``empty_windows``, a line per window naming the families with no data there (nothing of them was
    compared), which is also the reason given for an answer without causes; a line per generator that failed on the
    bundle (``generator_errors``); a line per misnamed file not read (``unread``)."""
    import shutil
    import textwrap

    from rca.contract.bundle import EMPTY_FAMILY
    from rca.contract.models import families_by_window
    from rca.contract.nodes import node_name

    width = width or shutil.get_terminal_size((100, 24)).columns

    lines = [f"incident {answer.incident or '-'}   ranker {answer.ranker}"]
    if families is not None:
        missing = [f for f in EMPTY_FAMILY if f not in families]
        lines.append(f"signals  {', '.join(families) or 'none'}"
                     + (f"   (not sent: {', '.join(missing)})" if missing else ""))
    if answer.not_compared:
        names = sorted(node_name(blind.node) for blind in answer.not_compared)
        more = len(names) - UNCOMPARED_NAMED
        listed = ", ".join(names[:UNCOMPARED_NAMED]) + (f" and {more} more" if more > 0 else "")
        n_series = sum(len(blind.series) for blind in answer.not_compared)
        lines.append(f"not compared  {n_series} metric series of {len(names)} service{'s' if len(names) > 1 else ''}"
                     f" (too few baseline points): {listed}")
    gaps = {w: ", ".join(names) for w, names in families_by_window(answer.empty_windows).items()}
    lines += [f"no {w}-window data  {names} (nothing to compare: {EMPTY_WINDOW_HINT})" for w, names in gaps.items()]
    lines += [f"generator failed  {e.generator} ({e.error}): ranked without it; a bug of the engine, please report it "
              "with the bundle" for e in answer.generator_errors]
    lines += [f"not read  {u.name} (a bundle file is named {u.meant}): ranked without its data" for u in answer.unread]
    lines.append("")
    header = f"{'#':>2}  {'conf':>5}  {'kind':<22} node"
    lines += [header, "-" * max(len(header), min(width, 100))]
    for c in answer.causes:
        lines.append(f"{c.rank:>2}  {c.confidence:>5.2f}  {c.kind:<22} {c.node}")
        said = c.explanation.removeprefix(f"{c.node} ({c.kind}): ")   # the row above names both
        indent = " " * EXPLANATION_INDENT
        lines += textwrap.wrap(said, width=max(width, 40 + EXPLANATION_INDENT), initial_indent=indent,
                               subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    if not answer.causes and gaps:
        lines.append(f"(no candidate causes: {' and '.join(f'no {w}-window data of {n}' for w, n in gaps.items())}"
                     f" to compare; {EMPTY_WINDOW_HINT})")
    elif not answer.causes:
        lines.append("(no candidate causes: no signal changed against its baseline, "
                     "or none had a baseline to compare with)")
    return "\n".join(lines)


@app.command()
def schemas(directory: Annotated[Path, typer.Option("--dir")] = Path("schemas"),
            check: Annotated[bool, typer.Option(help="fail if the files are stale instead of writing")] = False
            ) -> None:
    """Regenerate the JSON Schemas (and the OpenAPI spec) under schemas/."""
    from rca.contract.schemas import stale_schemas, write_schemas
    from rca.errors import ConfigError

    extra = _extra_schemas()
    if directory.exists() and not directory.is_dir():
        raise ConfigError("--dir", str(directory), "a directory, not a file")
    if check:
        stale = stale_schemas(directory, extra=extra)
        if stale:
            typer.echo(f"stale schemas in {directory}: {', '.join(stale)}; run `rca schemas`", err=True)
            raise typer.Exit(1)
        typer.echo("schemas are current")
        return
    try:
        written = write_schemas(_out_dir(directory, "--dir"), extra=extra)
    except OSError as exc:   # a directory this user may not write in
        raise ConfigError("--dir", str(directory), f"a directory to write in ({exc.strerror})") from exc
    for path in written:
        typer.echo(f"wrote {path}")


def _extra_schemas() -> dict[str, str]:
    """Other generated specs (the API's OpenAPI document) once those modules exist."""
    try:
        from rca.api.openapi import render_openapi
    except ImportError:
        return {}
    return {"openapi.json": render_openapi()}


# ------------------------------------------------------------------------------- the review service
keys_app = typer.Typer(add_completion=False, no_args_is_help=True, help="Manage API keys of the service.")
db_app = typer.Typer(add_completion=False, no_args_is_help=True, help="The service's database.")
rankers_app = typer.Typer(add_completion=False, no_args_is_help=True,
                          help="The ranker registry: versions, promotion log, rollback, prune.")
incidents_app = typer.Typer(add_completion=False, no_args_is_help=True,
                            help="The service's stored incidents: retention, deletion.")
app.add_typer(keys_app, name="keys")
app.add_typer(db_app, name="db")
app.add_typer(rankers_app, name="rankers")
app.add_typer(incidents_app, name="incidents")


@contextmanager
def _store(*, create: bool = True) -> Iterator[tuple[Settings, Session]]:
    """The settings and a session on the service's store, migrated to the latest schema first: what the commands
    that read or write the store open. Without ``create``, a SQLite store that does not exist, or a database
    without the store's tables, is a `ConfigError` (a mistyped RCA_DATA_DIR or RCA_DATABASE_URL), not a new empty
    store: for the commands that read or change what is stored (and `rca retrain`, which would export no review
    from an empty one and train without them)."""
    from rca.config import get_settings
    from rca.errors import ConfigError
    from sqlalchemy.engine import make_url

    from rca.store.db import has_store, missing_sqlite_file, session_scope, upgrade

    settings = get_settings()
    if not create:
        url = settings.resolved_database_url
        name = "RCA_DATABASE_URL" if settings.database_url else "RCA_DATA_DIR"
        shown_as = make_url(settings.database_url).render_as_string(hide_password=True) if settings.database_url \
            else str(settings.data_dir)
        if missing := missing_sqlite_file(url):
            raise ConfigError(name, shown_as, f"where the review service keeps its store (no {missing} there; "
                                              "`rca serve` or `rca keys create` starts one)")
        if not has_store(url):   # a database without the store's tables: the wrong one, or one recreated empty
            raise ConfigError(name, shown_as, "where the review service keeps its store (that database has none of "
                                              "its tables; `rca serve` or `rca db upgrade` creates them)")
    upgrade(settings.resolved_database_url)
    with session_scope(settings.resolved_database_url) as session:
        yield settings, session


class KeyRole(StrEnum):
    trigger = "trigger"
    reviewer = "reviewer"
    admin = "admin"


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="default: RCA_HOST")] = None,
          port: Annotated[int | None, typer.Option(min=1, max=65535, help="default: RCA_PORT")] = None,
          processes: Annotated[int | None, typer.Option(min=1, max=64, help="default: RCA_PROCESSES (1)")] = None
          ) -> None:
    """Run the review service (HTTP API); migrates the database first."""
    import uvicorn

    from rca.api import create_app
    from rca.config import ensure_data_dir, get_settings

    settings = get_settings()
    ensure_data_dir(settings)
    where = {"host": host or settings.host, "port": port or settings.port}
    processes = processes or settings.processes
    from rca.store.db import upgrade

    # once, before the processes start; and here, not in the app's startup, a store that cannot be reached is
    # one line and exit status 2 (it was uvicorn's 54-frame traceback)
    upgrade(settings.resolved_database_url)
    if processes == 1:
        uvicorn.run(create_app(settings, freeze_heap=True), **where)
        return
    # uvicorn kills a worker that does not answer its supervisor's ping within this many seconds (default 5). A
    # worker parsing a large inline bundle, or starting on a loaded machine, can hold the GIL that long; killing
    # it would drop the requests it is serving.
    uvicorn.run("rca.api.app:serve_process", factory=True, workers=processes, timeout_worker_healthcheck=60,
                **where)


@keys_app.command("create")
def keys_create(role: Annotated[KeyRole, typer.Option(help="trigger, reviewer or admin")],
                name: Annotated[str, typer.Option(help="who holds the key (the reviewer's identity)")] = "cli"
                ) -> None:
    """Create an API key and print it once (only its hash is stored)."""
    from rca.store.keys import create_api_key
    from rca.store.models import Role

    with _store() as (_, session):
        created = create_api_key(session, name=name, role=Role(role.value))
    typer.echo(f"created {created.role.value} key {created.id} for {created.name}; it is shown only once:", err=True)
    typer.echo(created.key)


@keys_app.command("list")
def keys_list(format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table) -> None:
    """The API keys in use (revoked ones are not listed): id, role, holder and creation time; never a secret."""
    from rca.store import queries
    from rca.store.models import ApiKeyPublic

    with _store(create=False) as (_, session):
        keys = [ApiKeyPublic.model_validate(k) for k in queries.list_api_keys(session)]
    if format is OutputFormat.json:
        typer.echo(json.dumps([k.model_dump(mode="json") for k in keys], indent=2))
        return
    if not keys:
        typer.echo("no API keys in use (rca keys create makes one)")
    for k in keys:
        typer.echo(f"{k.id}  {k.role.value:<8}  {k.created_at:%Y-%m-%d %H:%M} UTC  {k.name}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(metavar="ID", help="the key's id, as rca keys list shows "
                                                      "it (the ID of a key rca_ID_SECRET)")]) -> None:
    """Revoke an API key. A running service refuses it within RCA_KEY_CACHE_SECONDS (default 5), at once where it
    has not verified the key in that time."""
    from rca.store import queries
    from rca.store.models import as_utc

    with _store(create=False) as (_, session):
        record = queries.revoke_api_key(session, key_id=key_id)
    typer.echo(f"revoked {record.role.value} key {record.id} of {record.name} "
               f"(at {as_utc(record.revoked_at):%Y-%m-%d %H:%M:%S} UTC)")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply the schema migrations (the service also does this when it starts)."""
    from rca.config import get_settings
    from rca.store.db import current_revision, upgrade

    url = get_settings().resolved_database_url
    upgrade(url, revision)
    typer.echo(f"database at revision {current_revision(url)}")


@incidents_app.command("prune")
def incidents_prune(older_than: Annotated[str, typer.Option("--older-than", metavar="DAYS", help="delete those "
                                                            "submitted more than DAYS days ago (0: all)")],
                    dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would go; delete nothing")
                                       ] = False) -> None:
    """Delete the incidents nobody reviewed whose analysis is finished (done or failed), with their stored bundles.

    Kept: every incident with a review (confirm, reject or name_cause), its reviews and its bundle.

    Kept too: queued and analyzing incidents, and a bundle file another incident still refers to.

    Deleted too, whatever DAYS is: stored bundle files no incident refers to (left by a crash) and leftover
    temporary files, all last modified over an hour ago.

    Safe while the service runs: an incident reviewed meanwhile stays."""
    from datetime import timedelta

    from rca.errors import ConfigError
    from rca.service import prune_incidents

    try:
        days = int(older_than)
        if days < 0:
            raise ValueError(days)
        age = timedelta(days=min(days, timedelta.max.days))   # longer ago than any incident all the same
    except ValueError:
        raise ConfigError("--older-than", older_than, "a whole number of days, 0 or more") from None
    with _store(create=False) as (settings, session):
        result = prune_incidents(session, settings=settings, older_than=age, dry_run=dry_run)
    n, files, orphans = result["incidents"], result["files"], result["orphans"]
    oldest = result["oldest_kept"]
    typer.echo(f"{'would delete' if dry_run else 'deleted'} {n} unreviewed incident{'' if n == 1 else 's'} "
               f"submitted before {result['created_before']:%Y-%m-%d %H:%M} UTC and {files} bundle "
               f"file{'' if files == 1 else 's'} ({_megabytes(result['bytes'])})"
               + (f", and {orphans} orphaned file{'' if orphans == 1 else 's'} no incident refers to "
                  f"({_megabytes(result['orphan_bytes'])})" if orphans else "")
               + "; " + (f"the oldest kept was submitted {oldest:%Y-%m-%d %H:%M} UTC" if oldest else "none kept"))


@incidents_app.command("delete")
def incidents_delete(incident_id: Annotated[str, typer.Argument(metavar="ID", help="the incident's id")]) -> None:
    """Delete one incident (posted by mistake) with all its reviews and its stored bundle. No confirmation is asked.

    Kept: a bundle file another incident refers to. Refused while the incident is queued or being analyzed.

    Its confirmed causes leave the training data at the next retrain."""
    from rca.service import delete_incident

    with _store(create=False) as (settings, session):
        result = delete_incident(session, settings=settings, incident_id=incident_id)
    n, confirmed = result["reviews"], len(result["confirmed"])
    file = {"removed": f"its bundle file ({_megabytes(result['bytes'])})",
            "shared": "no bundle file (another incident refers to it)",
            "missing": "no bundle file (gone already)"}[result["file"]]
    typer.echo(f"deleted incident {result['incident']}, {n} review{'' if n == 1 else 's'} and {file}"
               + (f"; with its {confirmed} confirmed cause{'' if confirmed == 1 else 's'}, it leaves the training "
                  "data at the next retrain" if confirmed else ""))


@app.command()
def retrain() -> None:
    """The weekly job: export confirmed reviews, train a challenger, promote it if it beats the champion."""
    from rca.service import retrain as retrain_ranker

    with _store(create=False) as (settings, session):
        report = retrain_ranker(session, settings=settings, by=_operator())
    typer.echo(json.dumps(report, indent=2, default=str))


@rankers_app.command("list")
def rankers_list(format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table) -> None:
    """The ranker in use, the stored versions with their validation metrics, and the promotion log."""
    from rca.config import get_settings
    from rca.service import list_rankers

    listing = list_rankers(get_settings())
    if format is OutputFormat.json:
        typer.echo(json.dumps(listing, indent=2, default=str))
        return
    typer.echo(f"in use: {listing['in_use']}")
    if not listing["versions"]:
        typer.echo("no trained versions in the registry (rca train / rca retrain add them)")
    for v in listing["versions"]:
        overall = v["metrics"].get("overall", {})
        scores = "  ".join(f"{k} {overall[k]:.3f}" for k in ("AC@1", "AC@3", "MRR") if k in overall)
        copies = f" (+{v['n_reduced_copies']} reduced copies)" if v["n_reduced_copies"] else ""
        if v.get("damaged"):
            typer.echo(f"{'*' if v['champion'] else ' '} {v['version']}  damaged: {v['damaged']}")
            continue
        typer.echo(f"{'*' if v['champion'] else ' '} {v['version']}  {v['n_training_incidents']} training incidents"
                   f"{copies}  {scores or 'no validation metrics'}")
    for entry in listing["history"]:
        typer.echo(_log_line(entry))


def _log_line(entry: dict) -> str:
    """One entry of the promotion log as `rca rankers list` prints it."""
    by = f", by {entry['by']}" if entry.get("by") else ""
    if entry["action"] == "prune":
        removed = entry.get("removed", [])
        return (f"{entry['at']}  prune    {len(removed)} never promoted: {', '.join(removed)}  "
                f"({_megabytes(entry.get('bytes', 0))} freed, {entry.get('kept')} versions kept{by})")
    return (f"{entry['at']}  {entry['action']:<8} {entry['version'] or 'packaged champion'}  "
            f"(was {entry.get('previous') or 'packaged champion'}{by}): {entry.get('reason', '')}")


def _megabytes(n_bytes: int) -> str:
    return f"{n_bytes / 1e6:.1f} MB"


Reason = Annotated[str, typer.Option(help="why (kept in the promotion log)")]


@rankers_app.command("rollback")
def rankers_rollback(reason: Reason) -> None:
    """Return to the champion before the current one (the packaged one after the first promotion).

    The running service uses it for its next analysis, no restart."""
    from rca.config import get_settings
    from rca.service import rollback_ranker

    result = rollback_ranker(get_settings(), reason, by=_operator())
    typer.echo(f"rolled back {result['previous']}; champion now "
               f"{result['restored'] or 'the packaged champion'} (in use: {result['in_use']})")


@rankers_app.command("promote")
def rankers_promote(version: Annotated[str, typer.Argument(help="a stored version (rca rankers list)")],
                    reason: Reason) -> None:
    """Make a stored version the champion by hand, without the validation gate (e.g. to undo a rollback)."""
    from rca.config import get_settings
    from rca.service import promote_ranker

    result = promote_ranker(get_settings(), version, reason, by=_operator())
    typer.echo(f"promoted {result['promoted']} (was {result['previous'] or 'the packaged champion'}; "
               f"in use: {result['in_use']})")


@rankers_app.command("prune")
def rankers_prune(keep: Annotated[int, typer.Option(help="how many of the versions never promoted to keep (the "
                                                         "newest); 0 or more")] = 4,
                  dry_run: Annotated[bool, typer.Option("--dry-run", help="say what would go; delete nothing")
                                     ] = False) -> None:
    """Delete the stored versions never promoted (challengers the gate refused), all but the newest KEEP.

    Never deleted: the champion and the champions before it, which a rollback could return to.

    Nor the versions rolled back: the retrain gate needs them to refuse the same model again.

    The promotion log records what went (promoting it later says when). Refused while a retrain runs."""
    from rca.config import get_settings
    from rca.service import prune_rankers

    result = prune_rankers(get_settings(), keep, dry_run=dry_run, by=_operator())
    n = len(result["removed"])
    if not n:
        typer.echo(f"nothing to prune; {result['kept']} versions kept")
        return
    for version in result["removed"]:
        typer.echo(f"{'would remove' if dry_run else 'removed'} {version}")
    typer.echo(f"{'would free' if dry_run else 'freed'} {_megabytes(result['bytes'])} ({n} version"
               f"{'' if n == 1 else 's'}); {result['kept']} kept")


def _operator() -> str:
    """Who runs the command, for the promotion log."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


# ------------------------------------------------------------------------------ ranking: train, evaluate
class Stage(StrEnum):
    candidates = "candidates"
    ranking = "ranking"


@app.command()
def train(corpus: Annotated[list[Path], typer.Option(help="labeled corpus directory (repeatable; the corpora "
                                                         "nested in it are read too)")] = [
              Path("labeled_incidents")],  # noqa: B006 (typer reads the default, never mutates it)
          registry: Annotated[Path | None, typer.Option(help="ranker registry (default: RCA_RANKERS_DIR)")] = None,
          out: Annotated[Path | None, typer.Option(help="write the trained ranker here instead (e.g. "
                                                        "rca/ranking/champion), no registry, no gate")] = None,
          processes: Annotated[int, typer.Option(min=1, max=8)] = 2,
          family_dropout: Annotated[bool, typer.Option(help="also train on a copy of each training incident "
                                                           "without some signal families")] = True) -> None:
    """Train a LightGBM ranker on the train split, calibrate on validation; promote it if not worse."""
    from rca.ranking.dataset import count_copies
    from rca.ranking.train import train_ranker, training_table

    if out is not None:
        ranker = train_ranker(training_table(corpus, processes=processes, family_dropout=family_dropout))
        ranker.meta["version"] = f"lgbm-packaged-{ranker.meta['code_version']}"
        ranker.save(out)
        n_training, n_copies = count_copies(ranker.meta["training_incidents"])
        validated = ranker.meta.get("validation_metrics", {}).get("overall")
        said = (f"validation: {json.dumps(validated)}" if validated else
                "no validation incidents, so its confidences are not calibrated (temperature 1, no mass for 'none of "
                "these') and nothing measured it: add a validation split to the corpus")
        typer.echo(f"wrote {out} ({n_training} training incidents, {n_copies} reduced copies); {said}")
        return
    from rca.config import get_settings
    from rca.service import train_into_registry

    result = train_into_registry(corpus, settings=get_settings(), registry=registry, processes=processes,
                                 family_dropout=family_dropout)
    overall = result["metrics"]["challenger"]["overall"]
    outcome = ("promoted" if result["promoted"] else "NOT promoted (the same model as the champion; not stored again)"
               if result["twin"] else f"NOT promoted ({result['refused']})")
    held = (result["metrics"].get("champion") or {}).get("overall")
    against = (f" against the champion's AC@1 {held['AC@1']:.3f} MRR {held['MRR']:.3f} on the same "
               f"{overall.get('n', '?')} incidents" if held else "")
    typer.echo(f"challenger {result['challenger']}: validation AC@1 {overall['AC@1']:.3f} MRR {overall['MRR']:.3f}"
               f"{against}; {outcome}")


@app.command()
def evaluate(corpus: Annotated[Path | None, typer.Option(help="labeled corpus")] = Path("labeled_incidents"),
             split: Annotated[str, typer.Option(help="split of the corpus to evaluate")] = "test",
             realdata: Annotated[Path | None, typer.Option(help="real labeled bundles (test only)")] = None,
             report: Annotated[Path | None, typer.Option(help="write the Markdown report here")] = None,
             stage: Annotated[Stage, typer.Option(help="candidates: recall only")] = Stage.ranking,
             processes: Annotated[int, typer.Option(min=1, max=8)] = 2,
             lacking: Annotated[bool, typer.Option(help="also rank the corpus incidents without each family "
                                                        "combination (rca.ranking.families.LACKING)")] = True,
             ranker: Annotated[Path | None, typer.Option(help="a trained ranker's directory (rca train --out DIR, "
                                                              "RCA_RANKERS_DIR/<version>) instead of the one in use")
                               ] = None,
             ) -> None:
    """AC@k, Avg@5, MRR, NDCG@5 and ECE of the ranker in use against the heuristic and naive baselines."""
    from rca.ranking.lgbm import LgbmRanker
    from rca.ranking.report import format_tables, run_evaluation, write_report
    from rca.service import get_ranker

    corpus = corpus if corpus is not None and corpus.exists() else None
    if corpus is None and realdata is None:
        raise typer.BadParameter("nothing to evaluate: --corpus does not exist and no --realdata given")
    if report is not None:  # before the minutes of evaluation: a report that cannot be written failed after them
        _out_dir(report.parent, "--report")
        if report.is_dir():
            raise typer.BadParameter(f"{report} is a directory; expected the Markdown file to write",
                                     param_hint="--report")
    scorer = LgbmRanker.load(ranker) if ranker is not None else get_ranker()
    evaluation = run_evaluation(corpus, split, realdata, scorer, processes=processes,
                                lacking_families=lacking and stage is Stage.ranking)
    if stage is Stage.candidates:
        for part in ("corpus", "realdata"):
            if part in evaluation:
                typer.echo(f"{part}: {json.dumps(evaluation[part]['candidates'])}")
        return
    typer.echo(format_tables(evaluation))
    if report is not None:
        for path in write_report(evaluation, report):
            typer.echo(f"wrote {path}")


# ----------------------------------------------------------------------------- simulator and corpus (sim)
corpus_app = typer.Typer(no_args_is_help=True, help="The labeled corpus under labeled_incidents/.")
app.add_typer(corpus_app, name="corpus")


def _progress(total: int, label: str):
    """A tqdm bar on a terminal, nothing otherwise."""
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="incident", disable=not sys.stderr.isatty())


def _out_dir(out: Path, option: str = "--out") -> Path:
    """``out``, made a directory if it is not one yet; `ConfigError` naming ``option`` when it cannot be (a file
    is there)."""
    from rca.errors import ConfigError

    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file at out or at one of its parents
        raise ConfigError(option, str(out), f"a directory (cannot make one: {exc.strerror})") from exc
    return out


@app.command()
def simulate(out: Annotated[Path, typer.Option("--out", help="directory to write the incidents into")],
             n: Annotated[int, typer.Option("--n", min=1, help="how many incidents")] = 1,
             seed: Annotated[int, typer.Option("--seed", min=0, help="same seed, same bytes")] = 0,
             kinds: Annotated[str | None, typer.Option("--kinds", help="comma-separated cause kinds to cycle "
                                                        "through (default: random)")] = None) -> None:
    """Simulate labeled incident bundles (directories with label.json)."""
    import numpy as np

    from rca.contract.models import CauseKind
    from rca.errors import ConfigError, UnknownNameError
    from rca.simulate import simulate_incident

    chosen: list[CauseKind] = []
    for name in (kinds.split(",") if kinds else []):
        try:
            chosen.append(CauseKind(name.strip()))
        except ValueError:
            raise UnknownNameError("cause kind", name.strip(), [str(k) for k in CauseKind]) from None
    _out_dir(out)
    taken = [name for i in range(n) if _holds_files(out / (name := f"sim-{seed}-{i:04d}"))]
    if taken:  # checked before any is written: the run would stop there, half done
        raise ConfigError("--out", str(out), f"a directory without these incidents already ({taken[0]} is there"
                                             f"{f' and {len(taken) - 1} more' if len(taken) > 1 else ''}; choose "
                                             "another --out or --seed)")
    with _progress(n, "simulate") as bar:
        for i in range(n):
            incident_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
            kind = [chosen[i % len(chosen)]] if chosen else None
            simulate_incident(out / f"sim-{seed}-{i:04d}", seed=incident_seed, kinds=kind,
                              incident_id=f"sim-{seed}-{i:04d}")
            bar.update(1)
    typer.echo(f"wrote {n} incident(s) under {out}")


def _holds_files(path: Path) -> bool:
    return path.is_dir() and any(path.iterdir())


@corpus_app.command("build")
def corpus_build(out: Annotated[Path, typer.Option("--out")] = Path("labeled_incidents"),
                 n: Annotated[int, typer.Option("--n", min=0, help="model-serving incidents")] = 420,
                 seed: Annotated[int, typer.Option("--seed", min=0)] = 7,
                 mesh: Annotated[int, typer.Option("--mesh", min=0, help="metrics-only service-mesh incidents")] = 150,
                 recipe: Annotated[bool, typer.Option(help="keep only recipe.json, manifest.csv and fingerprints.json "
                                                          "in --out; the bundles go to RCA_DATA_DIR/corpora")] = False,
                 views: Annotated[bool, typer.Option(help="give the service meshes load-balancer views (nodes that "
                                                         "echo the service behind them)")] = False,
                 traffic: Annotated[bool, typer.Option(help="in the service meshes, failed calls are retried and "
                                                           "early failures call nothing")] = False,
                 deploys: Annotated[bool, typer.Option(help="a model-serving incident's benign model rollover may "
                                                           "land in the current window")] = False,
                 fanout: Annotated[bool, typer.Option(help="in the service meshes, some calls are made once per "
                                                          "item, several times per request")] = False,
                 ) -> None:
    """(Re)generate the simulated corpus and its manifest deterministically (reviewed incidents are kept)."""
    from collections import Counter

    from rca.corpus import build_corpus, write_recipe

    build = write_recipe if recipe else build_corpus
    _out_dir(out)
    with _progress(n + mesh, "corpus") as bar:
        entries = build(out, n=n, seed=seed, mesh=mesh, views=views, traffic=traffic, deploys=deploys,
                        fanout=fanout, progress=bar.update)
    splits = Counter(e.split for e in entries)
    typer.echo(f"{out}: {len(entries)} incidents ({', '.join(f'{k} {v}' for k, v in sorted(splits.items()))})")


@corpus_app.command("check")
def corpus_check(corpus: Annotated[Path, typer.Argument(help="the corpus directory (the corpora nested in it are "
                                                         "checked too)")] = Path("labeled_incidents")) -> None:
    """Check every incident against the contract and its manifest row (sha256, label causes); exit 1 on a problem."""
    from rca.corpus import check_corpus, read_manifest, training_corpora

    if not (corpus / "manifest.csv").is_file():
        from rca.errors import ConfigError

        raise ConfigError("CORPUS", str(corpus), "a corpus directory holding manifest.csv")
    total = sum(len(read_manifest(d)) for d in training_corpora(corpus))
    with _progress(total, "check") as bar:
        n, problems = check_corpus(corpus, progress=bar.update)
    for incident_id, problem in problems:
        typer.echo(f"{incident_id}: {problem}")
    bad = len({i for i, _ in problems})
    typer.echo(f"{corpus}: {n - bad}/{n} incidents valid")
    raise typer.Exit(1 if problems else 0)
# --------------------------------------------------------------------------- end simulator and corpus (sim)


def _stop_on_sigterm(signum, frame) -> None:
    """SIGTERM (``kill``, a container or a scheduler stopping the job) ends a command as an exception does, instead
    of the process dying where it stands: ``with`` blocks close, so a feature pool's processes are ended with it
    (`rca.ranking.dataset.build_training_table`; they printed a BrokenPipeError traceback each when their parent
    vanished), and files written aside are not renamed into place."""
    raise Terminated(128 + signum)


class Terminated(SystemExit):
    """Raised by `_stop_on_sigterm`; its code is 128 + the signal's number, as a shell reports a killed command."""


def main(argv: list[str] | None = None) -> None:
    in_main_thread = threading.current_thread() is threading.main_thread()   # (signal handlers can only be set there)
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm) if in_main_thread else None
    try:
        _main(argv)
    except Terminated:
        print("stopped: SIGTERM", file=sys.stderr)
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> None:
    try:
        code = app(args=argv, standalone_mode=False)  # returns typer.Exit's code instead of raising
    except RcaError as exc:
        if isinstance(exc, BundleErrors):
            for e in exc.errors:
                print(f"error: {e}", file=sys.stderr)
        else:
            print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        # typer >= 0.20 vendors click (typer._click), so match the ClickException shape, not the class
        if callable(getattr(exc, "show", None)) and hasattr(exc, "exit_code"):
            exc.show()
            sys.exit(2)
        from rca.store.db import STORE_AWAY

        if isinstance(exc, STORE_AWAY):  # a locked or read-only SQLite file, a database restarting
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            print(f"error: the review store could not be reached or written ({type(exc).__name__}: {reason}); "
                  "try again once it answers", file=sys.stderr)
            sys.exit(2)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
