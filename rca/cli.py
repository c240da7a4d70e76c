"""The `rca` command line: thin adapters over `rca.service` and the contract.

Every expected failure (a bad bundle, an unknown name, a bad parameter) prints one line on stderr and
exits with status 2; no traceback.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rca.errors import BundleErrors, RcaError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Rank the root causes of production ML incidents.")


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


BundleArg = Annotated[Path, typer.Argument(help="bundle directory, .tar.gz or .zip")]


@app.command()
def validate(bundle: BundleArg) -> None:
    """Check a bundle against the contract and report every problem found."""
    from rca.contract import validate_bundle

    problems = validate_bundle(bundle)
    if problems:
        for problem in problems:
            typer.echo(f"error: {problem}", err=True)
        typer.echo(f"{bundle}: {len(problems)} problem(s)", err=True)
        raise typer.Exit(2)
    typer.echo(f"{bundle}: valid")


@app.command()
def analyze(bundle: BundleArg,
            format: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
            top: Annotated[int, typer.Option(min=1, max=100, help="how many causes to list")] = 10) -> None:
    """Rank the likely root causes of one incident."""
    from rca.service import analyze_path

    answer = analyze_path(bundle, top=top)
    if format is OutputFormat.json:
        typer.echo(answer.model_dump_json(indent=2, exclude_none=True))
    else:
        typer.echo(render_table(answer))


def render_table(answer) -> str:
    """A readable table of an answer, for terminals."""
    lines = [f"incident {answer.incident or '-'}   ranker {answer.ranker}", ""]
    header = f"{'#':>2}  {'conf':>5}  {'kind':<22} {'node':<40}  explanation"
    lines += [header, "-" * len(header)]
    for c in answer.causes:
        lines.append(f"{c.rank:>2}  {c.confidence:>5.2f}  {c.kind:<22} {c.node:<40}  {c.explanation}")
    if not answer.causes:
        lines.append("(no candidate causes: no signal family showed a change)")
    return "\n".join(lines)


@app.command()
def schemas(directory: Annotated[Path, typer.Option("--dir")] = Path("schemas"),
            check: Annotated[bool, typer.Option(help="fail if the files are stale instead of writing")] = False
            ) -> None:
    """Regenerate the JSON Schemas (and the OpenAPI spec) under schemas/."""
    from rca.contract.schemas import stale_schemas, write_schemas

    extra = _extra_schemas()
    if check:
        stale = stale_schemas(directory, extra=extra)
        if stale:
            typer.echo(f"stale schemas in {directory}: {', '.join(stale)}; run `rca schemas`", err=True)
            raise typer.Exit(1)
        typer.echo("schemas are current")
        return
    for path in write_schemas(directory, extra=extra):
        typer.echo(f"wrote {path}")


def _extra_schemas() -> dict[str, str]:
    """Other generated specs (the API's OpenAPI document) once those modules exist."""
    try:
        from rca.api.openapi import render_openapi
    except ImportError:
        return {}
    return {"openapi.json": render_openapi()}


# ----------------------------------------------------------------------------- simulator and corpus (sim)
corpus_app = typer.Typer(no_args_is_help=True, help="The labeled corpus under labeled_incidents/.")
app.add_typer(corpus_app, name="corpus")


def _progress(total: int, label: str):
    """A tqdm bar on a terminal, nothing otherwise."""
    from tqdm import tqdm

    return tqdm(total=total, desc=label, unit="incident", disable=not sys.stderr.isatty())


@app.command()
def simulate(out: Annotated[Path, typer.Option("--out", help="directory to write the incidents into")],
             n: Annotated[int, typer.Option("--n", min=1, help="how many incidents")] = 1,
             seed: Annotated[int, typer.Option("--seed", help="same seed, same bytes")] = 0,
             kinds: Annotated[str | None, typer.Option("--kinds", help="comma-separated cause kinds to cycle "
                                                        "through (default: random)")] = None) -> None:
    """Simulate labeled incident bundles (directories with label.json)."""
    import numpy as np

    from rca.contract.models import CauseKind
    from rca.errors import UnknownNameError
    from rca.simulate import simulate_incident

    chosen: list[CauseKind] = []
    for name in (kinds.split(",") if kinds else []):
        try:
            chosen.append(CauseKind(name.strip()))
        except ValueError:
            raise UnknownNameError("cause kind", name.strip(), [str(k) for k in CauseKind]) from None
    with _progress(n, "simulate") as bar:
        for i in range(n):
            incident_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
            kind = [chosen[i % len(chosen)]] if chosen else None
            simulate_incident(out / f"sim-{seed}-{i:04d}", seed=incident_seed, kinds=kind,
                              incident_id=f"sim-{seed}-{i:04d}")
            bar.update(1)
    typer.echo(f"wrote {n} incident(s) under {out}")


@corpus_app.command("build")
def corpus_build(out: Annotated[Path, typer.Option("--out")] = Path("labeled_incidents"),
                 n: Annotated[int, typer.Option("--n", min=1)] = 420,
                 seed: Annotated[int, typer.Option("--seed")] = 7) -> None:
    """(Re)generate the simulated corpus and its manifest deterministically (reviewed incidents are kept)."""
    from collections import Counter

    from rca.corpus import build_corpus

    with _progress(n, "corpus") as bar:
        entries = build_corpus(out, n=n, seed=seed, progress=bar.update)
    splits = Counter(e.split for e in entries)
    typer.echo(f"{out}: {len(entries)} incidents ({', '.join(f'{k} {v}' for k, v in sorted(splits.items()))})")
# --------------------------------------------------------------------------- end simulator and corpus (sim)


def main(argv: list[str] | None = None) -> None:
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
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(2)
        raise
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
