"""Pinned npm tarballs: integrity checks and safe extraction, on tarballs built in tmp_path (no npm, no network)."""

import io
import json
import tarfile

import pytest

from gfx.data import npm
from gfx.data.npm import (
    IntegrityError,
    NpmError,
    NpmPackage,
    UnsafeArchiveError,
    fetch_tarball,
    safe_extract,
    sha512_integrity,
    unpack,
    verify_integrity,
)


def make_tarball(path, members):
    """members: list of (name, bytes) regular files, or (name, TarInfo-type, linkname) specials."""
    with tarfile.open(path, "w:gz") as tar:
        for member in members:
            info = tarfile.TarInfo(member[0])
            if len(member) == 2:
                info.size = len(member[1])
                tar.addfile(info, io.BytesIO(member[1]))
            else:
                info.type, info.linkname = member[1], member[2]
                tar.addfile(info)
    return path


def package_tarball(path, name="@x/pkg", version="1.0.0"):
    meta = json.dumps({"name": name, "version": version}).encode()
    return make_tarball(path, [("package/package.json", meta), ("package/icons/a.svg", b"<svg/>")])


def test_sha512_integrity_matches_npm_format(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"")
    # sha512 of the empty string, base64, as npm writes it.
    assert sha512_integrity(path) == (
        "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
    )


def test_verify_integrity_refuses_a_wrong_hash(tmp_path):
    path = package_tarball(tmp_path / "p.tgz")
    verify_integrity(path, sha512_integrity(path))
    other = tmp_path / "other"
    other.write_bytes(b"something else")
    with pytest.raises(IntegrityError, match="upstream tarball changed"):
        verify_integrity(path, sha512_integrity(other))
    with pytest.raises(IntegrityError, match="not a sha512"):
        verify_integrity(path, "sha1-abc")


def test_safe_extract_writes_regular_files(tmp_path):
    tgz = make_tarball(tmp_path / "ok.tgz", [("package/a.txt", b"A"), ("package/sub/b.txt", b"BB")])
    written = safe_extract(tgz, tmp_path / "out")
    assert [p.read_bytes() for p in written] == [b"A", b"BB"]
    assert (tmp_path / "out" / "package" / "sub" / "b.txt").read_bytes() == b"BB"


@pytest.mark.parametrize(
    "member, message",
    [
        (("package/../../evil.txt", b"x"), r"escapes the folder"),
        (("../evil.txt", b"x"), r"escapes the folder"),
        (("/tmp/evil.txt", b"x"), r"absolute path"),
        (("package/link", tarfile.SYMTYPE, "/etc/passwd"), r"not a regular file"),
        (("package/hard", tarfile.LNKTYPE, "package/a.txt"), r"not a regular file"),
    ],
)
def test_safe_extract_refuses_unsafe_members_before_writing_anything(tmp_path, member, message):
    tgz = make_tarball(tmp_path / "bad.tgz", [("package/a.txt", b"A"), member])
    out = tmp_path / "deep" / "out"
    with pytest.raises(UnsafeArchiveError, match=message):
        safe_extract(tgz, out)
    assert not (out / "package" / "a.txt").exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "deep" / "evil.txt").exists()


def test_safe_extract_refuses_an_archive_over_max_bytes(tmp_path):
    tgz = make_tarball(tmp_path / "big.tgz", [("package/a", b"x" * 600), ("package/b", b"y" * 600)])
    with pytest.raises(UnsafeArchiveError, match="max_bytes"):
        safe_extract(tgz, tmp_path / "out", max_bytes=1000)


def test_unpack_checks_the_package_json_name_and_version(tmp_path):
    tgz = package_tarball(tmp_path / "p.tgz", version="1.0.0")
    root = unpack(NpmPackage("@x/pkg", "1.0.0", sha512_integrity(tgz)), tgz, tmp_path / "a")
    assert (root / "icons" / "a.svg").read_bytes() == b"<svg/>"
    with pytest.raises(NpmError, match=r"holds @x/pkg@1.0.0, expected @x/pkg@2.0.0"):
        unpack(NpmPackage("@x/pkg", "2.0.0", sha512_integrity(tgz)), tgz, tmp_path / "b")


def test_tarball_name_follows_npm_pack():
    assert NpmPackage("@tabler/icons", "3.52.0", "sha512-").tarball_name == "tabler-icons-3.52.0.tgz"
    assert NpmPackage("lucide-static", "1.0.0", "sha512-").tarball_name == "lucide-static-1.0.0.tgz"


class FakeNpm:
    """Stands in for the npm client: `view` answers an integrity, `pack` writes given bytes."""

    def __init__(self, published: str, payload: bytes, tarball_name: str):
        self.published, self.payload, self.tarball_name, self.calls = published, payload, tarball_name, []

    def __call__(self, *args):
        self.calls.append(args[0])
        if args[0] == "view":
            return json.dumps(self.published)
        if args[0] == "pack":
            dest = args[args.index("--pack-destination") + 1]
            (npm.Path(dest) / self.tarball_name).write_bytes(self.payload)
            return "[]"
        raise AssertionError(args)


def test_fetch_downloads_once_then_uses_the_verified_cache(tmp_path, monkeypatch):
    good = package_tarball(tmp_path / "src.tgz")
    pin = NpmPackage("@x/pkg", "1.0.0", sha512_integrity(good))
    fake = FakeNpm(pin.integrity, good.read_bytes(), pin.tarball_name)
    monkeypatch.setattr(npm, "_npm", fake)
    cache = tmp_path / "cache"
    path = fetch_tarball(pin, cache)
    assert path == cache / "x-pkg-1.0.0.tgz" and path.read_bytes() == good.read_bytes()
    assert fake.calls == ["view", "pack"]
    assert fetch_tarball(pin, cache) == path
    assert fake.calls == ["view", "pack"]  # no second download
    assert [p.name for p in cache.iterdir()] == [pin.tarball_name]  # temp folder cleaned up


def test_fetch_package_unpacks_once_into_the_cache(tmp_path, monkeypatch):
    good = package_tarball(tmp_path / "src.tgz")
    pin = NpmPackage("@x/pkg", "1.0.0", sha512_integrity(good))
    fake = FakeNpm(pin.integrity, good.read_bytes(), pin.tarball_name)
    monkeypatch.setattr(npm, "_npm", fake)
    root = npm.fetch_package(pin, tmp_path / "cache")
    assert root == tmp_path / "cache" / "unpacked" / "x-pkg-1.0.0" / "package"
    assert (root / "icons" / "a.svg").read_bytes() == b"<svg/>"
    (root / "icons" / "a.svg").unlink()  # a later call trusts the unpacked folder: no second fetch or unpack
    assert npm.fetch_package(pin, tmp_path / "cache") == root and fake.calls == ["view", "pack"]


def test_fetch_refuses_a_registry_integrity_that_differs_from_the_pin(tmp_path, monkeypatch):
    good = package_tarball(tmp_path / "src.tgz")
    pin = NpmPackage("@x/pkg", "1.0.0", sha512_integrity(good))
    monkeypatch.setattr(npm, "_npm", FakeNpm("sha512-AAAA", good.read_bytes(), pin.tarball_name))
    with pytest.raises(IntegrityError, match="refusing a changed upstream tarball"):
        fetch_tarball(pin, tmp_path / "cache")


def test_fetch_refuses_downloaded_bytes_that_differ_from_the_pin(tmp_path, monkeypatch):
    good = package_tarball(tmp_path / "src.tgz")
    pin = NpmPackage("@x/pkg", "1.0.0", sha512_integrity(good))
    tampered = package_tarball(tmp_path / "evil.tgz", version="1.0.0").read_bytes() + b"\0"
    monkeypatch.setattr(npm, "_npm", FakeNpm(pin.integrity, tampered, pin.tarball_name))
    cache = tmp_path / "cache"
    with pytest.raises(IntegrityError):
        fetch_tarball(pin, cache)
    assert list(cache.iterdir()) == []


def test_fetch_replaces_a_corrupt_cached_tarball(tmp_path, monkeypatch):
    good = package_tarball(tmp_path / "src.tgz")
    pin = NpmPackage("@x/pkg", "1.0.0", sha512_integrity(good))
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / pin.tarball_name).write_bytes(b"corrupt")
    fake = FakeNpm(pin.integrity, good.read_bytes(), pin.tarball_name)
    monkeypatch.setattr(npm, "_npm", fake)
    assert fetch_tarball(pin, cache).read_bytes() == good.read_bytes()
    assert fake.calls == ["view", "pack"]


def test_missing_npm_gives_an_actionable_error(monkeypatch):
    monkeypatch.setattr(npm.shutil, "which", lambda name: None)
    with pytest.raises(NpmError, match="npm is not installed"):
        npm.registry_integrity(NpmPackage("@x/pkg", "1.0.0", "sha512-"))
