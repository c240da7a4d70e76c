"""Safe extraction of bundle archives (.tar.gz, .tgz, .tar, .zip).

Nothing may land outside the target directory: absolute paths, ``..`` components, symbolic and hard links,
devices and other special members are refused. The uncompressed size and the member count are bounded, so
an archive bomb stops early with a clear error instead of filling the disk.
"""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from rca.errors import ArchiveError, shown

MAX_ARCHIVE_BYTES = 2 * 1024**3
MAX_ARCHIVE_FILES = 10_000
_CHUNK = 1 << 20


def is_archive(path: Path) -> bool:
    name = path.name.lower()
    return path.is_file() and name.endswith((".tar.gz", ".tgz", ".tar", ".zip"))


def _safe_member_path(name: str, archive: str) -> PurePosixPath:
    member = PurePosixPath(name.replace("\\", "/"))
    if member.is_absolute() or name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"member {shown(name)} has an absolute path; expected paths inside the bundle", file=archive)
    if any(part == ".." for part in member.parts):
        raise ArchiveError(f"member {shown(name)} points outside the bundle ('..')", file=archive)
    return member


class _Budget:
    def __init__(self, archive: str, max_bytes: int, max_files: int) -> None:
        self.archive, self.max_bytes, self.max_files = archive, max_bytes, max_files
        self.bytes = 0
        self.files = 0

    def add_file(self) -> None:
        self.files += 1
        if self.files > self.max_files:
            raise ArchiveError(f"more than {self.max_files} files; refusing to extract", file=self.archive)

    def add_bytes(self, n: int) -> None:
        self.bytes += n
        if self.bytes > self.max_bytes:
            raise ArchiveError(f"uncompressed size exceeds {self.max_bytes} bytes; refusing to extract",
                               file=self.archive)


def _copy(src, dest: Path, budget: _Budget) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as out:
        while chunk := src.read(_CHUNK):
            budget.add_bytes(len(chunk))
            out.write(chunk)


def extract_archive(archive: Path, target: Path, *, max_bytes: int = MAX_ARCHIVE_BYTES,
                    max_files: int = MAX_ARCHIVE_FILES) -> Path:
    """Extract ``archive`` into ``target`` safely and return the bundle directory inside it.

    When the archive holds a single top-level folder (``inc-1/incident.json``), that folder is returned.

    Raises
    ------
    ArchiveError
        For an unsafe member, a truncated or corrupt archive, or a size or file-count bound exceeded.
    """
    name = archive.name
    budget = _Budget(name, max_bytes, max_files)
    target.mkdir(parents=True, exist_ok=True)
    try:
        if name.lower().endswith(".zip"):
            _extract_zip(archive, target, budget)
        else:
            _extract_tar(archive, target, budget)
    except ArchiveError:
        shutil.rmtree(target, ignore_errors=True)
        raise
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError, ValueError) as exc:
        shutil.rmtree(target, ignore_errors=True)
        raise ArchiveError(f"truncated or corrupt archive ({exc}); expected a complete .tar.gz or .zip",
                           file=name) from exc
    return _bundle_root(target, name)


def _extract_tar(archive: Path, target: Path, budget: _Budget) -> None:
    try:
        tar = tarfile.open(archive, "r:*")
    except tarfile.ReadError as exc:  # its message lists every compression tried, one line each
        raise ArchiveError("not a tar archive (plain, gzip, bzip2 or xz); expected a complete .tar.gz, .tgz or "
                           ".tar", file=archive.name) from exc
    with tar:
        for member in tar:
            path = _safe_member_path(member.name, archive.name)
            if member.isdir():
                continue
            if not member.isfile():
                raise ArchiveError(f"member {shown(member.name)} is a link or special file; only regular files "
                                   "are accepted", file=archive.name)
            budget.add_file()
            src = tar.extractfile(member)
            if src is None:  # pragma: no cover - isfile() members always have data
                continue
            with src:
                _copy(src, target.joinpath(*path.parts), budget)


def _extract_zip(archive: Path, target: Path, budget: _Budget) -> None:
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = _safe_member_path(info.filename, archive.name)
            if info.is_dir():
                continue
            mode = (info.external_attr >> 16) & 0o170000
            if mode and mode != 0o100000:
                raise ArchiveError(f"member {shown(info.filename)} is a link or special file; only regular files "
                                   "are accepted", file=archive.name)
            budget.add_file()
            with zf.open(info) as src:
                _copy(src, target.joinpath(*path.parts), budget)


def _bundle_root(target: Path, name: str) -> Path:
    """Where the extracted bundle's files are: the top, its single folder, or the one folder holding an
    incident.json beside other top-level files (a README, notes), which gave 'incident.json: missing'. An
    incident.json elsewhere only (two folders deep, or in two folders) is an `ArchiveError` naming where: it was
    'incident.json: missing', as if there were none."""
    if (target / "incident.json").exists():
        return target
    children = [p for p in target.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    if len(children) == 1 and children[0].is_dir():
        root = children[0]
    else:
        holding = [p for p in children if p.is_dir() and (p / "incident.json").is_file()]
        root = holding[0] if len(holding) == 1 else target
    if (root / "incident.json").exists():
        return root
    found = sorted(p.relative_to(target).as_posix() for p in target.rglob("incident.json")
                   if "__MACOSX" not in p.parts)
    if found:
        listed = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
        raise ArchiveError(f"incident.json is not at the archive's top nor in its one folder; found {listed}; "
                           "expected one bundle per archive, its files at the top or in a single folder", file=name)
    return root
