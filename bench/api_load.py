"""The review service under a loopback load: requests per second and latency percentiles.

Starts the service (`rca serve`, one uvicorn process) on 127.0.0.1 at a free port with a temporary data
directory, on SQLite or PostgreSQL, creates a trigger and a reviewer key, posts two simulated incidents, then
loads it with ``wrk`` (apt-get install wrk) for a bounded time per endpoint:
``GET /v1/incidents/{id}`` and ``POST /v1/incidents/{id}/reviews`` (reviews go to the second incident, so
the read's review list does not grow under it). PostgreSQL runs in a dedicated schema, dropped afterwards.

    PYTHONPATH=. python bench/api_load.py [--quick] [--postgres URL]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent
WRK_REPORT = """
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %f, "errors": %d, "non2xx": %d, '
    .. '"p50": %f, "p95": %f, "p99": %f, "max": %f}\\n',
    summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status, latency:percentile(50) / 1e3, latency:percentile(95) / 1e3,
    latency:percentile(99) / 1e3, latency.max / 1e3))
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _request(url: str, *, key: str, data: bytes | None = None, content_type: str = "application/json") -> dict:
    req = urllib.request.Request(url, data=data, headers={"Authorization": f"Bearer {key}",
                                                          "Content-Type": content_type})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read())


def _bundles(tmp: Path) -> list[Path]:
    from rca.simulate import simulate_incident
    from rca.simulate.write import archive

    out = []
    for seed in (11, 12):
        root = tmp / f"inc-{seed}"
        simulate_incident(root, seed=seed, incident_id=f"bench-{seed}", all_families=True)
        out.append(archive(root, tmp / f"inc-{seed}.tar.gz"))
    return out


def _postgres_schema(url: str, schema: str, *, create: bool) -> str:
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"' if create else f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    return f"{url}?options=-csearch_path%3D{schema}"


def wrk(url: str, *, seconds: int, connections: int, key: str, body: str | None, tmp: Path) -> dict:
    script = WRK_REPORT
    if body is not None:
        script = (f"wrk.method = 'POST'\nwrk.body = '{body}'\n"
                  "wrk.headers['Content-Type'] = 'application/json'\n" + script)
    (tmp / "report.lua").write_text(script)
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
                          "-H", f"Authorization: Bearer {key}", "-s", str(tmp / "report.lua"), url],
                         capture_output=True, text=True, timeout=seconds + 60, check=True)
    stats = json.loads(out.stdout.strip().splitlines()[-1])
    stats["rps"] = stats["requests"] / stats["seconds"]
    return stats


def load_backend(backend: str, *, seconds: int, connections: int, postgres_url: str) -> dict:
    """Serve on one backend, post incidents, load both endpoints; the figures per endpoint."""
    tmp = Path(tempfile.mkdtemp(prefix=f"rca-bench-api-{backend}-"))
    schema = f"rca_bench_{uuid.uuid4().hex[:8]}"
    url = (f"sqlite:///{tmp / 'rca.db'}" if backend == "sqlite"
           else _postgres_schema(postgres_url, schema, create=True))
    env = {**os.environ, "RCA_DATA_DIR": str(tmp / "data"), "RCA_DATABASE_URL": url,
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    port = free_port()
    server = None
    try:
        from rca.store.db import dispose_engine, session_scope, upgrade
        from rca.store.keys import create_api_key
        from rca.store.models import Role

        upgrade(url)
        with session_scope(url) as session:
            trigger = create_api_key(session, name="bench-trigger", role=Role.trigger).key
            reviewer = create_api_key(session, name="bench-reviewer", role=Role.reviewer).key
        dispose_engine(url)
        server = subprocess.Popen([sys.executable, "-m", "rca", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                  env=env, cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, server)
        ids = []
        for path in _bundles(tmp):
            record = _request(f"{base}/v1/incidents", key=trigger, data=path.read_bytes(),
                              content_type="application/gzip")
            ids.append(record["id"])
        for incident_id in ids:
            _wait_done(f"{base}/v1/incidents/{incident_id}", reviewer)
        read = wrk(f"{base}/v1/incidents/{ids[0]}", seconds=seconds, connections=connections, key=reviewer,
                   body=None, tmp=tmp)
        review = wrk(f"{base}/v1/incidents/{ids[1]}/reviews", seconds=seconds, connections=connections,
                     key=reviewer, body='{"verdict": "confirm", "rank": 1, "comment": "bench"}', tmp=tmp)
        return {"read": read, "review": review}
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if backend == "postgres":
            from rca.store.db import dispose_engine

            dispose_engine(url)
            _postgres_schema(postgres_url, schema, create=False)
        shutil.rmtree(tmp, ignore_errors=True)


def _wait_ready(base: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"rca serve exited: {server.stderr.read().decode()[-2000:]}")
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"rca serve did not answer /healthz within {timeout} s")


def _wait_done(url: str, key: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = _request(url, key=key)["status"]
        if status in ("done", "failed"):
            return
        time.sleep(0.5)
    raise RuntimeError(f"{url} not analyzed within {timeout} s")


def run(*, quick: bool = False, backends: tuple[str, ...] = ("sqlite", "postgres"),
        postgres_url: str | None = None) -> dict:
    if shutil.which("wrk") is None:
        return {"error": "wrk is not installed (apt-get install wrk); the API load benchmark was skipped"}
    seconds, connections = (3, 8) if quick else (15, 16)
    postgres_url = postgres_url or os.environ.get("RCA_BENCH_POSTGRES_URL", POSTGRES_URL)
    result = {"seconds": seconds, "connections": connections, "backends": {}}
    for backend in backends:
        try:
            figures = load_backend(backend, seconds=seconds, connections=connections, postgres_url=postgres_url)
        except Exception as exc:  # a missing server is reported in the document, not a crash of the whole run
            result["backends"][backend] = {"error": f"{type(exc).__name__}: {exc}"[:400]}
            print(f"  {backend}: skipped ({result['backends'][backend]['error']})")
            continue
        result["backends"][backend] = figures
        for name, f in figures.items():
            print(f"  {backend:>8} {name:>6}: {f['rps']:7.1f} req/s  p50 {f['p50']:.1f} ms  p95 {f['p95']:.1f} ms  "
                  f"p99 {f['p99']:.1f} ms  ({f['non2xx']} non-2xx, {f['errors']} errors)")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=None, help=f"default: RCA_BENCH_POSTGRES_URL or {POSTGRES_URL}")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, postgres_url=args.postgres)
    if "error" in result:
        print(result["error"], file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
