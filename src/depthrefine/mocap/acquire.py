"""Mocap acquisition: a git repository, an archive (URL or file), or a local folder → files +
manifest, for one configured source (``sources.<name>``).

The manifest (TSV) records every selected file with its size and sha256. A copy of it kept
beside the files (``.manifest.tsv``) lets a re-run rewrite only the files whose content
changed, name them, and remove files that left the selection; unchanged files keep their
modification time, so the per-trial rules downstream re-run only for changed files.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from depthrefine.errors import DataError, SourceError
from depthrefine.io import atomic_write_text
from depthrefine.mocap.bvh import read_bvh

log = logging.getLogger(__name__)

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
MANIFEST_COLUMNS = ("trial", "path", "bytes", "sha256")
STATE_NAME = ".manifest.tsv"


@dataclass(frozen=True)
class ManifestRow:
    trial: str  # the source's trial prefix + relative path without the extension; the clip id stem
    path: str  # relative to the acquired files folder
    bytes: int
    sha256: str


def find_asf(root: Path, amc_rel: str, rule: list[str] | None) -> str:
    """The relative path of an AMC's ASF under ``root``: ``rule`` = [regex, replacement] on the
    AMC's relative path, or, with no rule, the one .asf file in the AMC's folder."""
    if rule:
        rel = re.sub(rule[0], rule[1], amc_rel)
        if rel == amc_rel or not (root / rel).is_file():
            raise DataError(root / amc_rel, f"no ASF {rel!r} for this AMC (asf: {rule})")
        return rel
    folder = (root / amc_rel).parent
    found = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".asf")
    if len(found) != 1:
        raise DataError(
            root / amc_rel,
            f"{len(found)} .asf files beside this AMC ({', '.join(p.name for p in found) or 'none'}); "
            "set the source's asf: [regex, replacement] to say which is its skeleton",
        )
    return found[0].relative_to(root).as_posix()


def check_file(path: Path, root: Path, fmt: str, asf_rule, fps_range, setting: str = "fps_range") -> str | None:
    """Parse one selected file (DataError naming it if unusable); returns its ASF's relative
    path for an AMC."""
    if fmt == "asf_amc":
        from depthrefine.mocap.asf_amc import read_amc, read_asf

        asf = find_asf(root, path.relative_to(root).as_posix(), asf_rule)
        read_amc(path, read_asf(root / asf))
        return asf
    check_motion(read_bvh(path), path, fps_range=fps_range, setting=setting)
    return None


def check_motion(motion, path, *, fps_range=(10.0, 1000.0), setting: str = "fps_range") -> None:
    """Refuse a BVH that parses but has a frame rate outside ``fps_range`` (a Frame Time of
    10 s would turn a small file into a made-up long clip). Joints missing for a marker set
    are found where the set is applied (``joints_to_markers``), per marker set."""
    lo, hi = fps_range
    if not lo <= motion.fps <= hi:
        raise DataError(
            path,
            f"frame rate {motion.fps:.4g} fps (Frame Time {motion.frame_time_s:g} s) is outside "
            f"{setting} [{lo:g}, {hi:g}]",
        )


def source_kind(source: str, kind: str = "auto") -> str:
    """'git', 'archive' or 'dir' for a configured ``sources.<name>.source``."""
    if kind != "auto":
        return kind
    lowered = source.lower().split("?", 1)[0]
    if lowered.startswith(("git@", "git://", "git+")) or lowered.endswith(".git"):
        return "git"
    if lowered.endswith(ARCHIVE_SUFFIXES):
        return "archive"
    if lowered.startswith(("http://", "https://")):
        return "git"  # a bare https repository URL
    return "dir"


def local_path(source: str) -> Path:
    """A filesystem path from a plain path or a file:// URL."""
    if source.startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlparse(source).path))
    return Path(source).expanduser()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def select_files(root: Path, include: list[str], exclude: list[str] = ()) -> list[Path]:
    """Files under ``root`` whose relative POSIX path matches an include glob (``**`` recurses)."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or ".git" in path.relative_to(root).parts:
            continue
        rel = path.relative_to(root).as_posix()
        if any(_glob_match(rel, g) for g in include) and not any(_glob_match(rel, g) for g in exclude):
            found.append(path)
    return found


@functools.lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern:
    """gitignore-style glob: ``**/`` spans zero or more folders, ``*`` and ``?`` stay in one."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z")


def _glob_match(rel: str, pattern: str) -> bool:
    return _glob_regex(pattern).match(rel) is not None


def fetch_source(source: str, kind: str, workdir: Path, git_ref: str | None = None, label: str = "source") -> Path:
    """Materialise the source under ``workdir`` (or return it as is for a local folder)."""
    if kind == "dir":
        root = local_path(source)
        if not root.is_dir():
            raise SourceError(f"{label} {source!r}: local folder {root} does not exist or is not a folder")
        return root
    if kind == "git":
        url = source[4:] if source.startswith("git+") else source
        target = workdir / "repo"
        cmd = ["git", "clone", "--depth", "1", "--quiet"]
        if git_ref:
            cmd += ["--branch", git_ref]
        log.info("cloning %s", url)
        env = dict(os.environ, GIT_TERMINAL_PROMPT="0")
        result = subprocess.run(cmd + [url, str(target)], capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise SourceError(f"{label} {source!r}: git clone failed: {result.stderr.strip() or result.stdout.strip()}")
        return target
    if kind == "archive":
        archive = workdir / ("download" + _archive_suffix(source))
        if source.startswith(("http://", "https://")):
            log.info("downloading %s", source)
            try:
                with urllib.request.urlopen(source, timeout=60) as response, open(archive, "wb") as out:
                    shutil.copyfileobj(response, out)
            except OSError as exc:
                raise SourceError(f"{label} {source!r}: download failed: {exc}") from None
        else:
            path = local_path(source)
            if not path.is_file():
                raise SourceError(f"{label} {source!r}: archive {path} does not exist")
            archive = path
        target = workdir / "unpacked"
        _unpack(archive, target, source, label)
        return target
    raise SourceError(f"{label}.source_type {kind!r} is not one of auto, git, archive, dir")


def _archive_suffix(source: str) -> str:
    lowered = source.lower().split("?", 1)[0]
    return next(s for s in ARCHIVE_SUFFIXES if lowered.endswith(s))


def _unpack(archive: Path, target: Path, source: str, label: str) -> None:
    target.mkdir(parents=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    _check_member(member, source, label)
                zf.extractall(target)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(target, filter="data")
        else:
            raise SourceError(f"{label} {source!r}: {archive.name} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as exc:
        raise SourceError(f"{label} {source!r}: cannot unpack archive: {exc}") from None


def _check_member(name: str, source: str, label: str) -> None:
    if name.startswith("/") or ".." in Path(name).parts:
        raise SourceError(f"{label} {source!r}: archive member {name!r} escapes the target folder")


def trial_id(rel_path: str, prefix: str = "") -> str:
    """Trial id from a relative path: ``prefix`` + POSIX path without the extension
    (``actions/walk_1``)."""
    return prefix + (rel_path[: -len(Path(rel_path).suffix)] if Path(rel_path).suffix else rel_path)


def read_manifest(path: str | Path) -> list[ManifestRow]:
    lines = Path(path).read_text().splitlines()
    if not lines or tuple(lines[0].split("\t")) != MANIFEST_COLUMNS:
        raise ValueError(f"{path}: not a mocap manifest (expected columns {MANIFEST_COLUMNS})")
    rows = []
    for line in lines[1:]:
        if line and not line.startswith("#"):
            trial, rel, size, digest = line.split("\t")
            rows.append(ManifestRow(trial, rel, int(size), digest))
    return rows


def acquire(
    source: str,
    out_dir: str | Path,
    manifest_path: str | Path,
    include: list[str],
    exclude: list[str] = (),
    kind: str = "auto",
    git_ref: str | None = None,
    on_bad_file: str = "error",
    fps_range: tuple[float, float] = (10.0, 1000.0),
    fmt: str = "bvh",
    asf: list[str] | None = None,
    trial_prefix: str = "",
    name: str = "cmu",
) -> dict:
    """Copy the selected files of source ``name`` into ``out_dir`` and write the manifest.

    Every selected file is parsed first (a BVH; or, with ``fmt="asf_amc"``, an AMC on its ASF,
    found by ``find_asf``, which is copied too and listed as a ``# asf`` line). A file that
    cannot be used raises DataError (naming it, the line and what was expected) before
    anything is written, or, with ``on_bad_file="skip"``, is left out and listed in the
    manifest as a ``# skipped`` line. Returns the trials added, changed, unchanged, removed
    and skipped.
    """
    out_dir = Path(out_dir)
    manifest_path = Path(manifest_path)
    kind = source_kind(source, kind)
    state_path = out_dir / STATE_NAME
    previous = {r.trial: r for r in read_manifest(state_path)} if state_path.exists() else {}
    label = f"sources.{name}"
    with tempfile.TemporaryDirectory(prefix=f"{name}-acquire-") as tmp:
        root = fetch_source(source, kind, Path(tmp), git_ref, label)
        files = select_files(root, include, exclude)
        if not files:
            raise SourceError(f"{label} {source!r}: no file matches include {include} (exclude {list(exclude)})")
        good, skipped, asfs = [], [], set()
        for path in tqdm(files, desc=f"checking {name} files", unit="file", mininterval=2.0, file=sys.stderr):
            try:
                companion = check_file(path, root, fmt, asf, fps_range, f"{label}.fps_range")
                good.append(path)
                if companion:
                    asfs.add(companion)
            except DataError as exc:
                if on_bad_file != "skip":
                    raise
                rel = path.relative_to(root).as_posix()
                skipped.append((rel, str(exc).replace(str(path), rel).replace("\t", " ").replace("\n", " ")))
                log.warning("skipping %s", exc)
        if not good:
            raise SourceError(f"{label} {source!r}: none of the {len(files)} selected files can be read")
        for rel in sorted(asfs):  # skeletons of the AMC files: copied when their content changed
            dest = out_dir / rel
            if not dest.is_file() or sha256_file(dest) != sha256_file(root / rel):
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(root / rel, dest)
        rows, summary = (
            [],
            {"added": [], "changed": [], "unchanged": [], "removed": [], "skipped": [r for r, _ in skipped]},
        )
        for path in good:
            rel = path.relative_to(root).as_posix()
            row = ManifestRow(trial_id(rel, trial_prefix), rel, path.stat().st_size, sha256_file(path))
            dest = out_dir / rel
            old = previous.get(row.trial)
            if old is not None and old.sha256 == row.sha256 and dest.is_file():
                summary["unchanged"].append(row.trial)
            else:
                summary["changed" if old else "added"].append(row.trial)
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp_dest = dest.with_name(dest.name + ".part")
                shutil.copyfile(path, tmp_dest)
                os.replace(tmp_dest, dest)
            rows.append(row)
    trials = [r.trial for r in rows]
    if len(set(trials)) != len(trials):
        raise SourceError(f"{label} {source!r}: two selected files share a trial id")
    for trial in sorted(set(previous) - set(trials)):
        summary["removed"].append(trial)
        stale = out_dir / previous[trial].path
        if stale.is_file():
            stale.unlink()
    text = (
        "\t".join(MANIFEST_COLUMNS)
        + "\n"
        + "".join(f"{r.trial}\t{r.path}\t{r.bytes}\t{r.sha256}\n" for r in rows)
        + "".join(f"# asf\t{rel}\n" for rel in sorted(asfs))
        + "".join(f"# skipped\t{rel}\t{reason}\n" for rel, reason in skipped)
    )
    atomic_write_text(state_path, text)
    if not manifest_path.exists() or manifest_path.read_text() != text:
        atomic_write_text(manifest_path, text)
    for key in ("added", "changed", "removed", "skipped"):
        if summary[key]:
            log.info("%s: %d file(s): %s", key, len(summary[key]), ", ".join(summary[key][:10]))
    log.info("%d file(s) unchanged", len(summary["unchanged"]))
    return summary
