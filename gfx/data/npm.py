"""Pinned npm tarballs: fetch with `npm pack`, verify sha512 integrity, extract safely.

A package is pinned by version *and* by the `sha512-...` integrity of its tarball, so a tarball that
changed upstream is refused rather than silently processed. Only the `npm` client talks to the
registry; everything else here is plain file work.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

MAX_ARCHIVE_BYTES = 512 * 2**20
"""Refuse to extract a tarball whose members add up to more than this (a decompression-bomb guard)."""


class NpmError(RuntimeError):
    """`npm` is missing or failed, or a package is not what we pinned."""


class IntegrityError(NpmError):
    """A tarball's sha512 differs from the pinned or the registry's integrity."""


class UnsafeArchiveError(NpmError):
    """A tarball member would escape the extraction folder or is not a regular file."""


@dataclass(frozen=True)
class NpmPackage:
    """One pinned npm package.

    Attributes:
        name: registry name, e.g. "@tabler/icons".
        version: exact version, e.g. "3.52.0".
        integrity: the tarball's Subresource Integrity string, "sha512-<base64>".
    """

    name: str
    version: str
    integrity: str

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def tarball_name(self) -> str:
        """The file name `npm pack` gives the tarball: "@tabler/icons" 3.52.0 -> "tabler-icons-3.52.0.tgz"."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


def sha512_integrity(path: Path) -> str:
    """The `sha512-<base64>` integrity string of a file's bytes."""
    digest = hashlib.sha512()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode("ascii")


def verify_integrity(path: Path, expected: str) -> None:
    """Raise `IntegrityError` unless the file's sha512 integrity equals `expected`."""
    if not expected.startswith("sha512-"):
        raise IntegrityError(f"integrity {expected!r} is not a sha512 value; pin the 'sha512-...' string")
    actual = sha512_integrity(path)
    if actual != expected:
        raise IntegrityError(
            f"{Path(path).name} has integrity {actual}, expected {expected}; "
            "the upstream tarball changed or the download is corrupt: delete it and check the pin"
        )


def _npm(*args: str) -> str:
    npm = shutil.which("npm")
    if npm is None:
        raise NpmError(
            "npm is not installed; install Node.js and npm (e.g. `apt-get install npm`) to fetch packages"
        )
    result = subprocess.run([npm, *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        detail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        raise NpmError(f"`npm {' '.join(args)}` failed ({result.returncode}): {detail[0]}")
    return result.stdout


def registry_integrity(package: NpmPackage) -> str:
    """The integrity the registry publishes for the pinned version (`npm view NAME@VERSION dist.integrity`)."""
    value = json.loads(_npm("view", package.spec, "dist.integrity", "--json") or "null")
    if not isinstance(value, str):
        raise NpmError(f"the registry has no integrity for {package.spec}; check the pinned version exists")
    return value


def fetch_tarball(package: NpmPackage, cache_dir: Path) -> Path:
    """Return the verified tarball of `package` in `cache_dir`, downloading it with `npm pack` if needed.

    A cached tarball is reused when it matches the pinned integrity. A download is accepted only when the
    registry's integrity, the pinned integrity and the downloaded bytes' sha512 all agree.

    Raises:
        IntegrityError: the registry or the downloaded bytes disagree with the pin.
        NpmError: npm is missing or failed.
    """
    cache_dir = Path(cache_dir)
    target = cache_dir / package.tarball_name
    if target.exists():
        try:
            verify_integrity(target, package.integrity)
            log.info("using cached %s", target)
            return target
        except IntegrityError:
            log.warning("cached %s does not match its pin; fetching it again", target)
            target.unlink()

    published = registry_integrity(package)
    if published != package.integrity:
        raise IntegrityError(
            f"the registry publishes {published} for {package.spec} but we pinned {package.integrity}; "
            "refusing a changed upstream tarball"
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache_dir) as tmp:
        log.info("npm pack %s", package.spec)
        _npm("pack", package.spec, "--pack-destination", tmp, "--json", "--ignore-scripts")
        downloaded = Path(tmp) / package.tarball_name
        if not downloaded.exists():
            raise NpmError(f"`npm pack {package.spec}` did not write {package.tarball_name}")
        verify_integrity(downloaded, package.integrity)
        os.replace(downloaded, target)
    return target


def _checked_members(archive: tarfile.TarFile, dest: Path, max_bytes: int) -> list[tarfile.TarInfo]:
    """The archive's regular files, after refusing any member that is unsafe to extract into `dest`."""
    files, total = [], 0
    for member in archive.getmembers():
        name = PurePosixPath(member.name)
        if name.is_absolute() or member.name.startswith(("/", "\\")) or member.name[1:2] == ":":
            raise UnsafeArchiveError(
                f"archive member {member.name!r} has an absolute path; refusing to extract"
            )
        if ".." in name.parts or "\\" in member.name:
            raise UnsafeArchiveError(
                f"archive member {member.name!r} escapes the folder ('..'); refusing to extract"
            )
        if member.isdir():
            continue
        if not member.isreg():
            raise UnsafeArchiveError(
                f"archive member {member.name!r} is not a regular file (type {member.type!r}); refusing to extract"
            )
        if not (dest / name).resolve().is_relative_to(dest):
            raise UnsafeArchiveError(
                f"archive member {member.name!r} resolves outside {dest}; refusing to extract"
            )
        total += member.size
        if total > max_bytes:
            raise UnsafeArchiveError(f"archive unpacks to more than {max_bytes} bytes (max_bytes); refusing")
        files.append(member)
    return files


def safe_extract(tarball: Path, dest: Path, *, max_bytes: int = MAX_ARCHIVE_BYTES) -> list[Path]:
    """Extract the regular files of a .tgz into `dest`, refusing the whole archive if any member is unsafe.

    Unsafe: an absolute path, a `..` component, a link, device or other non-regular member, or more than
    `max_bytes` in total. Every member is checked before anything is written. Files get mode 0o644.

    Returns:
        The extracted file paths, in archive order.
    """
    dest = Path(dest).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    with tarfile.open(tarball, "r:*") as archive:
        for member in _checked_members(archive, dest, max_bytes):
            path = dest / member.name
            path.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            with open(path, "wb") as out:
                shutil.copyfileobj(source, out)
            path.chmod(0o644)
            written.append(path)
    return written


def unpack(package: NpmPackage, tarball: Path, dest: Path) -> Path:
    """Safely extract a verified npm tarball into `dest` and return its package root (`dest/package`).

    Raises:
        NpmError: the tarball's package.json names another package or version.
    """
    safe_extract(tarball, dest)
    root = Path(dest) / "package"
    try:
        meta = json.loads((root / "package.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise NpmError(f"{Path(tarball).name} has no readable package/package.json ({err})") from err
    if (meta.get("name"), meta.get("version")) != (package.name, package.version):
        raise NpmError(
            f"{Path(tarball).name} holds {meta.get('name')}@{meta.get('version')}, expected {package.spec}"
        )
    return root


def fetch_package(package: NpmPackage, cache_dir: Path) -> Path:
    """The package root of a pinned package, fetched (`fetch_tarball`) and unpacked under `cache_dir` on first use.

    The tarball is kept as `cache_dir/<tarball_name>`, the files under `cache_dir/unpacked/<name>-<version>/package`.
    """
    cache_dir = Path(cache_dir)
    folder = cache_dir / "unpacked" / package.tarball_name.removesuffix(".tgz")
    root = folder / "package"
    if not (root / "package.json").is_file():
        shutil.rmtree(folder, ignore_errors=True)
        unpack(package, fetch_tarball(package, cache_dir), folder)
    return root
