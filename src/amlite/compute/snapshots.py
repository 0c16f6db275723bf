"""The project snapshot a run unpacks: the zip posted to startrun (``projectZipFile``), or one packed
from a stored content snapshot for snapshotrun. Checked before it is kept, then unpacked without
trusting its headers, never writing outside the destination folder."""

from __future__ import annotations

import os
import re
import stat
import zipfile
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path, PurePosixPath

from amlite.artifacts.stores.base import check_name
from amlite.errors import BadRequest

_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")
_ENCRYPTED = 0x1  # general purpose bit 0


def _invalid(message: str) -> BadRequest:
    return BadRequest(message, code="InvalidSnapshot", target="projectZipFile")


def _entry_name(info: zipfile.ZipInfo) -> str:
    """The entry's normalised relative path ('a/b.py', directories 'a/'), or BadRequest."""
    name = info.filename
    if "\\" in name:
        raise _invalid(f"Zip entry '{name}' contains a backslash: use '/' as the path separator.")
    if name.startswith("/") or _DRIVE.match(name):
        raise _invalid(f"Zip entry '{name}' has an absolute path: entries must be relative.")
    path = PurePosixPath(name)
    if ".." in path.parts:
        raise _invalid(f"Zip entry '{name}' contains a '..' segment.")
    if not path.parts:
        raise _invalid(f"Zip entry '{name}' has an empty path.")
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFLNK:
        raise _invalid(f"Zip entry '{name}' is a symbolic link: links are not allowed.")
    if kind not in (0, stat.S_IFDIR if info.is_dir() else stat.S_IFREG):
        raise _invalid(f"Zip entry '{name}' is not a regular file or directory.")
    if info.flag_bits & _ENCRYPTED:
        raise _invalid(f"Zip entry '{name}' is encrypted.")
    return f"{path}/" if info.is_dir() else str(path)


def _check(infos: list[zipfile.ZipInfo], max_files: int, max_bytes: int) -> list[str]:
    if len(infos) > max_files:
        raise _invalid(f"The zip holds {len(infos)} entries, more than the limit of {max_files}.")
    declared = sum(info.file_size for info in infos)
    if declared > max_bytes:
        raise _invalid(f"The zip unpacks to {declared} bytes, more than the limit of {max_bytes}.")
    names = [_entry_name(info) for info in infos]
    files: set[str] = set()
    folders: set[str] = set()
    for name in names:
        path = PurePosixPath(name)
        folders.update(str(parent) for parent in path.parents if parent.parts)
        if name.endswith("/"):
            folders.add(str(path))
        elif name in files:
            raise _invalid(f"Zip entry '{name}' appears more than once.")
        else:
            files.add(name)
    clash = sorted(files & folders)
    if clash:
        raise _invalid(f"Zip entry '{clash[0]}' is both a file and a folder.")
    return names


def validate_zip(path: Path, *, max_files: int, max_bytes: int) -> list[str]:
    """The entries' normalised names (folders end with '/'); BadRequest (``InvalidSnapshot``)
    naming the problem and the entry when the zip is unsafe or over the limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            return _check(archive.infolist(), max_files, max_bytes)
    except zipfile.BadZipFile as exc:
        raise _invalid(f"The project file is not a valid zip file ({exc}).") from exc


def extract(path: Path, dest: Path, *, max_files: int, max_bytes: int) -> list[str]:
    """Validate, then unpack into ``dest`` streaming, counting real bytes (headers may lie).

    On a BadRequest, ``dest`` may hold part of the snapshot: extract into a fresh folder.
    """
    root = dest.resolve()
    root.mkdir(parents=True, exist_ok=True)
    written = 0
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = _check(infos, max_files, max_bytes)
            for info, name in zip(infos, names):
                target = (root / name).resolve()
                if not target.is_relative_to(root) or target == root:
                    raise _invalid(f"Zip entry '{info.filename}' would be written outside the run's folder.")
                if name.endswith("/"):
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                written = _copy(archive, info, target, written, max_bytes)
    except zipfile.BadZipFile as exc:
        raise _invalid(f"The project file is not a valid zip file ({exc}).") from exc
    return names


def _copy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, written: int, max_bytes: int) -> int:
    """Stream one member to ``target``; answers the running byte count. zipfile stops at the
    declared size and checks the CRC, so a lying header ends as a corrupt entry; the count is
    the guard that does not depend on that."""
    try:
        with archive.open(info) as source, target.open("wb") as sink:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise _invalid(f"Zip entry '{info.filename}' takes the unpacked size past the "
                                   f"limit of {max_bytes} bytes.")
                sink.write(chunk)
    except (zipfile.BadZipFile, NotImplementedError, EOFError) as exc:  # NotImplemented: compression method
        raise _invalid(f"Zip entry '{info.filename}' cannot be unpacked: {exc}.") from exc
    if (info.external_attr >> 16) & 0o111:
        target.chmod(target.stat().st_mode | 0o111)
    return written


def check_path(path: str) -> str:
    """A snapshot file's relative path, or BadRequest (``InvalidSnapshot``) naming it: no absolute
    paths, drive letters, backslashes, '.' or '..' segments."""
    try:
        check_name(path)
    except BadRequest:
        raise BadRequest(f"'{path}' is not a valid snapshot path: use a relative path with '/' between "
                         "folders and no '.' or '..' segments.", code="InvalidSnapshot", target="files") from None
    if _DRIVE.match(path):
        raise BadRequest(f"'{path}' is not a valid snapshot path: it starts with a drive letter.",
                         code="InvalidSnapshot", target="files")
    return path


# (path, size, timestamp or None, a function giving the bytes as chunks)
PackEntry = tuple[str, int, str | None, Callable[[], Iterable[bytes]]]


def pack(dest: Path, files: Iterable[PackEntry], folders: Iterable[str] = ()) -> None:
    """Write a zip of ``files`` (and of ``folders``, empty ones kept) to ``dest``, streaming each
    file's bytes; ``dest`` appears only once complete."""
    partial = dest.with_name(dest.name + ".partial")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for folder in folders:
                archive.mkdir(folder)
            for path, size, timestamp, read in files:
                info = zipfile.ZipInfo(path, _zip_time(timestamp))
                info.compress_type, info.file_size, info.external_attr = zipfile.ZIP_DEFLATED, size, 0o644 << 16
                with archive.open(info, "w") as sink:
                    for chunk in read():
                        sink.write(chunk)
        os.replace(partial, dest)
    finally:
        partial.unlink(missing_ok=True)


def _zip_time(timestamp: str | None) -> tuple[int, int, int, int, int, int]:
    try:
        moment = datetime.fromisoformat(timestamp) if timestamp else datetime.now()
    except ValueError:
        moment = datetime.now()
    return max(moment.timetuple()[:6], (1980, 1, 1, 0, 0, 0))


def normalise(script: str) -> str | None:
    """A script path as the zip names it ('./src\\train.py' -> 'src/train.py'); None if it
    could not name an entry (absolute, or with '..')."""
    path = PurePosixPath(script.replace("\\", "/"))
    if path.is_absolute() or _DRIVE.match(script) or ".." in path.parts or not path.parts:
        return None
    return str(path)


def contains(names: Iterable[str], script: str) -> bool:
    """Does the snapshot hold the entry script? Azure runs it relative to the zip's root, so the
    exact relative path must be a file entry (no guessing a top-level folder)."""
    wanted = normalise(script)
    return wanted is not None and wanted in set(names)
