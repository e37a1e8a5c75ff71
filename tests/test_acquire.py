"""Mocap acquisition from a local mirror, a git repository, an archive URL and the shared
HDM05 archive (ASF/AMC), all offline."""

import functools
import http.server
import re
import shutil
import subprocess
import tarfile
import threading
import zipfile

import pytest

from depthrefine.errors import DataError, SourceError
from depthrefine.mocap.acquire import acquire, read_manifest, sha256_file, source_kind

FILES = ["cmu-bvh/01_01.bvh", "cmu-bvh/actions/test_walking_1.bvh", "cmu-style-bvh/LocomotionFlat04_000.bvh"]


@pytest.fixture
def mirror(tmp_path, data_dir):
    """A small mirror (three real files) that tests may edit."""
    root = tmp_path / "mirror"
    for rel in FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(data_dir / rel, root / rel)
    (root / "README.txt").write_text("not selected\n")
    return root


def run_acquire(source, tmp_path, **kw):
    out, manifest = tmp_path / "out" / "files", tmp_path / "out" / "manifest.tsv"
    summary = acquire(str(source), out, manifest, include=kw.pop("include", ["**/*.bvh"]), **kw)
    return summary, out, manifest


def test_source_kinds():
    assert source_kind("https://github.com/una-dinosauria/cmu-mocap.git") == "git"
    assert source_kind("https://example.org/cmu.tar.gz") == "archive"
    assert source_kind("file:///data/cmu.zip") == "archive"
    assert source_kind("/data/cmu") == "dir"
    assert source_kind("file:///data/cmu") == "dir"


def test_local_mirror_manifest_and_idempotence(mirror, tmp_path):
    summary, out, manifest = run_acquire(mirror, tmp_path)
    rows = read_manifest(manifest)
    assert [r.path for r in rows] == sorted(FILES)
    assert [r.trial for r in rows] == sorted(f[:-4] for f in FILES)
    for r in rows:
        assert r.sha256 == sha256_file(mirror / r.path) and r.bytes == (mirror / r.path).stat().st_size
        assert (out / r.path).read_bytes() == (mirror / r.path).read_bytes()
    assert sorted(summary["added"]) == sorted(r.trial for r in rows)

    mtimes = {r.path: (out / r.path).stat().st_mtime_ns for r in rows}
    manifest_text = manifest.read_text()
    again, _, _ = run_acquire(mirror, tmp_path)
    assert again["added"] == again["changed"] == [] and len(again["unchanged"]) == 3
    assert manifest.read_text() == manifest_text
    assert {r.path: (out / r.path).stat().st_mtime_ns for r in rows} == mtimes  # nothing rewritten


def test_changed_and_removed_files_are_detected(mirror, tmp_path):
    run_acquire(mirror, tmp_path)
    walk = mirror / "cmu-bvh/actions/test_walking_1.bvh"
    walk.write_text(walk.read_text().replace("Frame Time: 0.0083333", "Frame Time: 0.0083334"))
    (mirror / "cmu-style-bvh/LocomotionFlat04_000.bvh").unlink()
    summary, out, manifest = run_acquire(mirror, tmp_path)
    assert summary["changed"] == ["cmu-bvh/actions/test_walking_1"]
    assert summary["removed"] == ["cmu-style-bvh/LocomotionFlat04_000"]
    assert not (out / "cmu-style-bvh/LocomotionFlat04_000.bvh").exists()
    assert "0.0083334" in (out / "cmu-bvh/actions/test_walking_1.bvh").read_text()
    assert len(read_manifest(manifest)) == 2


def test_include_and_exclude_globs(mirror, tmp_path):
    _, _, manifest = run_acquire(mirror, tmp_path, include=["cmu-bvh/**/*.bvh"], exclude=["**/test_*"])
    assert [r.trial for r in read_manifest(manifest)] == ["cmu-bvh/01_01"]


def test_git_source(mirror, tmp_path):
    repo = tmp_path / "cmu.git"
    shutil.copytree(mirror, repo)
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    subprocess.run(git + ["add", "."], check=True)
    subprocess.run(git + ["commit", "-qm", "cmu"], check=True)
    summary, out, manifest = run_acquire(f"file://{repo}", tmp_path, kind="git")
    assert [r.path for r in read_manifest(manifest)] == sorted(FILES)
    assert source_kind(str(repo)) == "git"  # a path ending in .git
    summary, _, _ = run_acquire(str(repo), tmp_path)
    assert len(summary["unchanged"]) == 3


@pytest.fixture
def http_server(tmp_path):
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_archive_sources_over_http(mirror, tmp_path, http_server):
    served, base = http_server
    with tarfile.open(served / "cmu.tar.gz", "w:gz") as tf:
        tf.add(mirror, arcname="cmu-bvh-release")
    with zipfile.ZipFile(served / "cmu.zip", "w") as zf:
        for rel in FILES:
            zf.write(mirror / rel, arcname=rel)
    _, _, manifest = run_acquire(f"{base}/cmu.tar.gz", tmp_path)
    assert [r.path for r in read_manifest(manifest)] == sorted("cmu-bvh-release/" + f for f in FILES)
    _, _, manifest = run_acquire(f"{base}/cmu.zip", tmp_path / "z")
    assert [r.path for r in read_manifest(manifest)] == sorted(FILES)


def test_unreachable_sources_fail_clearly(tmp_path, http_server):
    _, base = http_server
    with pytest.raises(SourceError, match=r"local folder .*nowhere does not exist"):
        run_acquire(tmp_path / "nowhere", tmp_path)
    with pytest.raises(SourceError, match=r"git clone failed"):
        run_acquire(f"file://{tmp_path}/missing.git", tmp_path)
    with pytest.raises(SourceError, match=r"download failed: HTTP Error 404"):
        run_acquire(f"{base}/missing.zip", tmp_path)
    with pytest.raises(SourceError, match=r"download failed"):
        run_acquire("http://127.0.0.1:9/cmu.tar.gz", tmp_path)  # nothing listens on port 9
    assert not (tmp_path / "out" / "manifest.tsv").exists()


def test_bad_file_errors_or_is_skipped(mirror, tmp_path):
    (mirror / "cmu-bvh" / "broken.bvh").write_text((mirror / FILES[0]).read_text()[:-300])
    with pytest.raises(DataError, match=r"broken\.bvh, line \d+, frame \d+"):
        run_acquire(mirror, tmp_path)
    assert not (tmp_path / "out" / "manifest.tsv").exists()
    summary, out, manifest = run_acquire(mirror, tmp_path, on_bad_file="skip")
    assert summary["skipped"] == ["cmu-bvh/broken.bvh"]
    assert len(read_manifest(manifest)) == 3
    assert "# skipped\tcmu-bvh/broken.bvh\tcmu-bvh/broken.bvh, line" in manifest.read_text()


def test_an_absurd_frame_time_is_refused_naming_the_file(mirror, tmp_path):
    """Frame Time 10 s would turn a 116 KB file into a made-up 25-minute clip."""
    text = (mirror / FILES[1]).read_text()
    (mirror / "cmu-bvh" / "slow.bvh").write_text(re.sub(r"Frame Time:\s*\S+", "Frame Time: 10", text))
    with pytest.raises(
        DataError, match=r"slow\.bvh: frame rate 0\.1 fps \(Frame Time 10 s\) is outside sources\.cmu\.fps_range"
    ):
        run_acquire(mirror, tmp_path)
    summary, _, manifest = run_acquire(mirror, tmp_path, on_bad_file="skip")
    assert summary["skipped"] == ["cmu-bvh/slow.bvh"] and len(read_manifest(manifest)) == 3
    summary, _, _ = run_acquire(mirror, tmp_path, fps_range=(0.05, 1000))  # the range is the user's
    assert summary["skipped"] == [] and "cmu-bvh/slow" in summary["added"]


HDM05_ARCHIVE = "hdm05/hdm05-asf-amc.tar.xz"
HDM05_JOG = ["HDM05/*/HDM_*_jogLeftCircle4StepsRstart_*_120.amc"]


def test_an_amc_source_brings_its_asf_from_the_shared_archive(tmp_path, data_dir):
    """HDM05 straight from its .tar.xz: the AMC files are the trials (with the source's
    prefix), each actor's ASF is copied beside them and listed."""
    summary, out, manifest = run_acquire(
        data_dir / HDM05_ARCHIVE, tmp_path, include=HDM05_JOG, fmt="asf_amc", trial_prefix="hdm05/", name="hdm05"
    )
    rows = read_manifest(manifest)
    assert len(rows) == len(summary["added"]) == 17 and all(r.trial.startswith("hdm05/HDM05/") for r in rows)
    asfs = [line.split("\t")[1] for line in manifest.read_text().splitlines() if line.startswith("# asf")]
    assert sorted(asfs) == [f"HDM05/{a}/HDM_{a}.asf" for a in ("bd", "bk", "dg", "mm", "tr")]
    assert all((out / a).is_file() for a in asfs)


def amc_folder(tmp_path, data_dir) -> tuple:
    from conftest import unpack

    asf, amc, *_ = unpack(
        data_dir / HDM05_ARCHIVE,
        [
            "HDM05/bk/HDM_bk.asf",
            "HDM05/bk/HDM_bk_jogLeftCircle4StepsRstart_003_120.amc",
            "HDM05/bd/HDM_bd.asf",
            "HDM05/bd/HDM_bd_jogLeftCircle4StepsRstart_001_120.amc",
        ],
        tmp_path / "src",
    )
    return tmp_path / "src", asf, amc


def test_an_amc_without_its_asf_is_named(tmp_path, data_dir):
    root, asf, amc = amc_folder(tmp_path, data_dir)
    asf.unlink()
    with pytest.raises(
        DataError, match=r"HDM_bk_jog\w+\.amc: 0 \.asf files beside this AMC \(none\); set the source's asf"
    ):
        run_acquire(root, tmp_path, include=["**/*.amc"], fmt="asf_amc")
    summary, _, manifest = run_acquire(root, tmp_path, include=["**/*.amc"], fmt="asf_amc", on_bad_file="skip")
    assert summary["skipped"] == ["HDM05/bk/HDM_bk_jogLeftCircle4StepsRstart_003_120.amc"]
    assert summary["added"] == ["HDM05/bd/HDM_bd_jogLeftCircle4StepsRstart_001_120"]
    assert "# skipped\tHDM05/bk/HDM_bk_jog" in manifest.read_text()


def test_two_asfs_beside_an_amc_need_a_rule(tmp_path, data_dir):
    root, asf, amc = amc_folder(tmp_path, data_dir)
    shutil.copy(asf, asf.with_name("HDM_other.asf"))
    with pytest.raises(DataError, match=r"2 \.asf files beside this AMC \(HDM_bk\.asf, HDM_other\.asf\)"):
        run_acquire(root, tmp_path, include=["**/*.amc"], fmt="asf_amc")
    rule = [r"^(.*)/HDM_(\w+?)_.*\.amc$", r"\1/HDM_\2.asf"]  # actor code → its ASF
    summary, out, _ = run_acquire(root, tmp_path, include=["**/*.amc"], fmt="asf_amc", asf=rule)
    assert len(summary["added"]) == 2 and (out / "HDM05/bk/HDM_bk.asf").is_file()
