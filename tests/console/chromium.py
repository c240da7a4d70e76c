"""Debian's Chromium for the browser test, installed by the test setup itself when missing (as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def ensure_chromium(timeout: float = 900) -> Path:
    """``/usr/bin/chromium``, running ``apt-get update && apt-get install -y chromium`` first if it is missing.

    Raises RuntimeError with what to do when it cannot be installed (not root, no apt-get, apt failed).
    """
    if CHROMIUM.exists():
        return CHROMIUM
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{CHROMIUM} is missing and there is no apt-get to install it; install Debian's "
                           "'chromium' package")
    if os.geteuid() != 0:
        raise RuntimeError(f"{CHROMIUM} is missing and the tests do not run as root; run "
                           "'sudo apt-get install -y chromium' once")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"'{' '.join(cmd)}' failed (exit {done.returncode}): {done.stderr[-800:]}")
    if not CHROMIUM.exists():
        raise RuntimeError(f"apt-get installed 'chromium' but {CHROMIUM} is still missing")
    return CHROMIUM


if __name__ == "__main__":
    print(ensure_chromium())
