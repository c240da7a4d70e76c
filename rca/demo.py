"""`./dev demo`: analyze the example incident end to end and show its ranked causes."""

from __future__ import annotations

from pathlib import Path

from rca.cli import render_table
from rca.service import analyze_path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "feature-store-outage"


def main() -> None:
    print(f"analyzing {EXAMPLE.relative_to(Path.cwd()) if EXAMPLE.is_relative_to(Path.cwd()) else EXAMPLE}\n")
    print(render_table(analyze_path(EXAMPLE)))


if __name__ == "__main__":
    main()
