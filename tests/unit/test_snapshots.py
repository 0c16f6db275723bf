"""Project snapshots: unsafe or oversized zips are refused with a clear message; safe ones unpack
inside the destination only."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from amlite.compute.snapshots import contains, extract, normalise, validate_zip
from amlite.errors import BadRequest

LIMITS = {"max_files": 10, "max_bytes": 1000}


def make_zip(path: Path, entries: dict[str, bytes | str], *, mode: int | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            info = zipfile.ZipInfo(name)
            if mode is not None:
                info.external_attr = mode << 16
            archive.writestr(info, data)
    return path


def patch_central(path: Path, offset: int, fmt: str, value: int) -> None:
    """Overwrite a field of every central-directory header (what validation reads)."""
    data = bytearray(path.read_bytes())
    start = data.find(b"PK\x01\x02")
    while start != -1:
        struct.pack_into(fmt, data, start + offset, value)
        start = data.find(b"PK\x01\x02", start + 4)
    path.write_bytes(bytes(data))


def refused(path: Path, match: str, **limits) -> BadRequest:
    with pytest.raises(BadRequest, match=match) as caught:
        validate_zip(path, **(limits or LIMITS))
    assert caught.value.code == "InvalidSnapshot"
    return caught.value


def test_valid_zip_lists_normalised_names_and_extracts(tmp_path):
    path = make_zip(tmp_path / "p.zip", {"hello.py": 'print("Hello, REST!")', "pkg/": "",
                                         "./pkg/util.py": "x = 1", "data/a.txt": "abc"})
    names = validate_zip(path, **LIMITS)
    assert names == ["hello.py", "pkg/", "pkg/util.py", "data/a.txt"]
    dest = tmp_path / "run"
    assert extract(path, dest, **LIMITS) == names
    assert (dest / "hello.py").read_text() == 'print("Hello, REST!")'
    assert (dest / "pkg/util.py").read_text() == "x = 1"
    assert (dest / "data/a.txt").read_text() == "abc"
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == \
        ["data", "data/a.txt", "hello.py", "pkg", "pkg/util.py"]


def test_executable_bit_is_kept(tmp_path):
    path = make_zip(tmp_path / "p.zip", {"run.sh": "#!/bin/sh\n"}, mode=stat.S_IFREG | 0o755)
    extract(path, tmp_path / "run", **LIMITS)
    assert (tmp_path / "run/run.sh").stat().st_mode & 0o100


@pytest.mark.parametrize("content", [b"not a zip", b"", b"PK\x03\x04truncated"])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "p.zip"
    path.write_bytes(content)
    refused(path, "not a valid zip file")
    with pytest.raises(BadRequest, match="not a valid zip file"):
        extract(path, tmp_path / "run", **LIMITS)


@pytest.mark.parametrize("name, problem", [
    ("/etc/passwd", "absolute path"),
    ("C:/Windows/evil.py", "absolute path"),
    ("c:evil.py", "absolute path"),
    ("..\\evil.py", "backslash"),
    ("dir\\file.py", "backslash"),
    ("../evil.py", r"'\.\.' segment"),
    ("a/../../evil.py", r"'\.\.' segment"),
    ("a/..", r"'\.\.' segment"),
])
def test_unsafe_paths_are_named(tmp_path, name, problem):
    path = make_zip(tmp_path / "p.zip", {"ok.py": "", name: "x"})
    error = refused(path, problem)
    assert name in error.message
    with pytest.raises(BadRequest, match=problem):
        extract(path, tmp_path / "run", **LIMITS)
    assert not (tmp_path / "evil.py").exists() and not (tmp_path / "run/ok.py").exists()


def test_symlinks_and_special_files_are_refused(tmp_path):
    link = make_zip(tmp_path / "link.zip", {"escape": "/etc/passwd"}, mode=stat.S_IFLNK | 0o777)
    assert "'escape'" in refused(link, "symbolic link").message
    fifo = make_zip(tmp_path / "fifo.zip", {"pipe": ""}, mode=stat.S_IFIFO | 0o644)
    refused(fifo, "not a regular file")
    fake_dir = make_zip(tmp_path / "dir.zip", {"d": ""}, mode=stat.S_IFDIR | 0o755)
    refused(fake_dir, "not a regular file")


def test_encrypted_entries_are_refused(tmp_path):
    path = make_zip(tmp_path / "p.zip", {"secret.py": "x"})
    patch_central(path, 8, "<H", 0x1)
    refused(path, "'secret.py' is encrypted")


def test_duplicates_and_file_folder_clashes(tmp_path):
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("a.py", "1")
        archive.writestr("a.py", "2")
    refused(path, "'a.py' appears more than once")
    clash = make_zip(tmp_path / "clash.zip", {"a": "file", "a/b.py": "x"})
    refused(clash, "'a' is both a file and a folder")


def test_too_many_entries(tmp_path):
    path = make_zip(tmp_path / "p.zip", {f"f{i}.py": "" for i in range(11)})
    refused(path, "11 entries, more than the limit of 10")
    assert len(validate_zip(path, max_files=11, max_bytes=10)) == 11


def test_declared_size_over_the_limit(tmp_path):
    path = make_zip(tmp_path / "p.zip", {"a.bin": b"\0" * 600, "b.bin": b"\0" * 600})
    refused(path, "1200 bytes, more than the limit of 1000")
    with pytest.raises(BadRequest, match="1200 bytes"):
        extract(path, tmp_path / "run", **LIMITS)
    assert not (tmp_path / "run/a.bin").exists()


def test_lying_headers_do_not_unpack_past_the_limit(tmp_path):
    """A bomb whose headers claim 100 bytes but which inflates to 1 MB."""
    path = make_zip(tmp_path / "bomb.zip", {"bomb.bin": b"\0" * 1_000_000})
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, data.find(b"PK\x03\x04") + 22, 100)
    struct.pack_into("<I", data, data.find(b"PK\x01\x02") + 24, 100)
    path.write_bytes(bytes(data))
    assert validate_zip(path, **LIMITS) == ["bomb.bin"]
    dest = tmp_path / "run"
    with pytest.raises(BadRequest, match="'bomb.bin' cannot be unpacked: Bad CRC-32"):
        extract(path, dest, **LIMITS)
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= LIMITS["max_bytes"]


def test_extract_never_follows_a_link_out_of_dest(tmp_path):
    """Even a link already in the destination cannot carry a write outside it."""
    dest = tmp_path / "run"
    dest.mkdir()
    (dest / "out").symlink_to(tmp_path)
    path = make_zip(tmp_path / "p.zip", {"out/evil.py": "x"})
    with pytest.raises(BadRequest, match="outside the run's folder"):
        extract(path, dest, **LIMITS)
    assert not (tmp_path / "evil.py").exists()


def test_contains_requires_the_exact_relative_path():
    names = ["hello.py", "src/", "src/train.py", "proj/main.py"]
    assert contains(names, "hello.py")
    assert contains(names, "./hello.py")
    assert contains(names, "src/train.py")
    assert contains(names, "src\\train.py")
    assert not contains(names, "train.py")
    assert not contains(names, "main.py")  # no guessing a top-level folder
    assert not contains(names, "src")
    assert not contains(names, "src/")
    assert not contains(names, "/hello.py")
    assert not contains(names, "src/../hello.py")
    assert not contains(names, "")
    assert normalise("./src\\train.py") == "src/train.py"
    assert normalise("C:/x.py") is None


def test_real_bytes_are_counted_whatever_the_headers_say(tmp_path, monkeypatch):
    """The byte count does not rely on zipfile stopping at the declared size."""
    path = make_zip(tmp_path / "p.zip", {"a.bin": b"\0" * 10})
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info: io.BytesIO(b"\0" * 5000))
    with pytest.raises(BadRequest, match="'a.bin' takes the unpacked size past the limit of 1000 bytes"):
        extract(path, tmp_path / "run", **LIMITS)
