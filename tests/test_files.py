"""Atomic writes: the final name holds the old or the new content, never a partial file."""

import os
import stat

import pytest

from gfx.files import TEMP_PREFIX, atomic_open, write_bytes, write_text


def test_writes_replace_and_create_missing_folders(tmp_path):
    target = tmp_path / "a" / "b" / "out.png"
    write_bytes(target, b"first", durable=False)
    write_bytes(target, b"second")
    assert target.read_bytes() == b"second"
    write_text(tmp_path / "note.txt", "héllo\n")
    assert (tmp_path / "note.txt").read_bytes() == "héllo\n".encode()
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b", "note.txt", "out.png"]  # no temp files


def test_relative_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_bytes("here.bin", b"1", durable=False)
    write_bytes("sub/there.bin", b"2", durable=False)
    assert (tmp_path / "here.bin").read_bytes() == b"1" and (
        tmp_path / "sub" / "there.bin"
    ).read_bytes() == b"2"


def test_permissions_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        write_bytes(tmp_path / "x.bin", b"x", durable=False)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "x.bin").stat().st_mode) == 0o640


def test_an_error_keeps_the_old_content_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="midway"), atomic_open(target, "w") as f:
        f.write("partial new content")
        assert [p.name for p in tmp_path.iterdir() if p.name.startswith(TEMP_PREFIX)] != []
        raise RuntimeError("midway")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_temp_names_are_unique_siblings_with_the_same_extension(tmp_path):
    with atomic_open(tmp_path / "a.png") as f, atomic_open(tmp_path / "a.png") as g:
        temps = sorted(p.name for p in tmp_path.iterdir())
        f.write(b"f")
        g.write(b"g")
    assert len(temps) == 2 and all(n.startswith(TEMP_PREFIX) and n.endswith(".png") for n in temps)
    assert (tmp_path / "a.png").read_bytes() == b"f"  # the later rename wins
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_bad_mode_is_refused(tmp_path):
    with (
        pytest.raises(ValueError, match="supports modes 'w' and 'wb', not 'a'"),
        atomic_open(tmp_path / "x", "a"),
    ):
        pass
