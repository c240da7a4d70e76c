"""`./dev demo`: the main job end to end on the embedded defaults.

1. analyze the example incident and print its ranked causes;
2. start the review service on 127.0.0.1 with a SQLite store under ``var/demo`` (nothing to install);
3. create a reviewer key, post the incident to the service, and print the review page's address.

On a terminal the service keeps running until Ctrl-C so the page can be opened; elsewhere (CI, scripts) or
with ``--no-serve`` it stops once the incident is posted and analyzed.
"""

from __future__ import annotations

import argparse
import gzip
import io
import socket
import sys
import tarfile
import threading
import time
from pathlib import Path

from rca.cli import render_table
from rca.contract import load_bundle
from rca.service import analyze

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "feature-store-outage"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _archive(bundle: Path) -> bytes:
    """The bundle as a trigger would send it, the same bytes on every run (no timestamps, owners or modes from
    the checkout): the service answers a second post of the same body with the stored incident (200), and any
    other body under the same id with 409, so a rerun of the demo on the same data directory must not differ."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for f in sorted(bundle.iterdir()):
            if f.name != "label.json":  # the answer key stays out of what a trigger would send
                data = f.read_bytes()
                info = tarfile.TarInfo(f.name)
                info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
                tar.addfile(info, io.BytesIO(data))
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as gz:
        gz.write(buf.getvalue())
    return out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="./dev demo", description=__doc__.splitlines()[0])
    parser.add_argument("--no-serve", action="store_true", help="stop after posting the incident")
    parser.add_argument("--port", type=int, default=0, help="port of the local service (default: a free one)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var" / "demo")
    args = parser.parse_args(argv)

    print(f"1. analyzing {EXAMPLE.relative_to(ROOT)}\n")
    bundle = load_bundle(EXAMPLE)
    print(render_table(analyze(bundle), families=bundle.families()))

    import httpx
    import uvicorn

    from rca.api import create_app
    from rca.config import Settings
    from rca.store.db import session_scope, upgrade
    from rca.store.keys import create_api_key
    from rca.store.models import Role

    settings = Settings(data_dir=args.data_dir)
    url = settings.resolved_database_url
    upgrade(url)
    with session_scope(url) as session:
        key = create_api_key(session, name="demo-trigger", role=Role.trigger).key
        reviewer = create_api_key(session, name="demo-reviewer", role=Role.reviewer).key
    port = args.port or _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    print(f"\n2. review service on {base} (SQLite at {url.removeprefix('sqlite:///')})")
    response = httpx.post(f"{base}/v1/incidents", content=_archive(EXAMPLE), timeout=60,
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/gzip"})
    body = response.json()
    incident = body.get("id") if isinstance(body, dict) else None
    if response.status_code == 409:  # stored by a run of the demo whose archive had other bytes (before 2026-12-05)
        incident = bundle.incident.id
        print(f"3. incident {incident} is already stored in {args.data_dir} (an earlier run of the demo posted it)")
    elif response.status_code >= 400 or not incident:
        print(f"posting the incident failed: {response.status_code} {response.text}", file=sys.stderr)
        server.should_exit = True
        thread.join()
        sys.exit(1)
    else:
        print(f"3. posted incident {incident}: HTTP {response.status_code}")
    print(f"\n   review page: {base}/incidents/{incident}")
    print(f"   sign in with the reviewer key: {reviewer}")
    if args.no_serve or not sys.stdout.isatty():
        server.should_exit = True
        thread.join()
        return
    print("\n   serving until Ctrl-C ...")
    try:
        while thread.is_alive():
            thread.join(0.5)
    except KeyboardInterrupt:
        server.should_exit = True
        thread.join()


if __name__ == "__main__":
    main()
