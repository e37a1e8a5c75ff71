"""Run the real workflow in a temporary copy of the repository's workflow files."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def make_workdir(tmp: Path, overrides: dict, sources=("cmu",)) -> Path:
    """A workdir with .test/config.yaml (``overrides`` merged in, dict by dict) as test.yaml.
    ``sources``: the .test sources kept (None: all three); CMU alone keeps most tests short."""
    tmp.mkdir(parents=True, exist_ok=True)
    for name in ("Snakefile", "workflow", "config", "envs", "src", "profiles"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp / name)
    test_cfg = yaml.safe_load((REPO / ".test" / "config.yaml").read_text())
    if sources is not None:
        test_cfg["sources"] = {k: v for k, v in test_cfg["sources"].items() if k in sources}
    for source in test_cfg["sources"].values():  # .test paths are relative to the checkout
        source["source"] = str((REPO / source["source"]).resolve())
    test_cfg = _merge(test_cfg, overrides)
    (tmp / "test.yaml").write_text(yaml.safe_dump(test_cfg))
    return tmp


def locomotion_source(data_dir: Path) -> dict:
    """The CMU walking and running trials only, so that training a model on demand stays short."""
    return {
        "sources": {
            "cmu": {
                "source": str(data_dir),
                "include": [
                    "cmu-bvh/actions/*_walking_*.bvh",
                    "cmu-bvh/actions/*_running_*.bvh",
                    "cmu-style-bvh/*.bvh",
                ],
            }
        }
    }


def snakemake(
    workdir: Path, *args: str, extra_config: Path | None = None, check: bool = True
) -> subprocess.CompletedProcess:
    configs = ["config/config.yaml", "test.yaml"] + ([str(extra_config)] if extra_config else [])
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", *configs, "--nocolor", *args]
    result = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=1500)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


def planned_jobs(result: subprocess.CompletedProcess) -> dict[str, int]:
    """Rule → job count from a dry run's 'Job stats' table."""
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    lines = text.split("Job stats:", 1)[1].splitlines()
    counts = {}
    for line in lines[3:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            break
        if parts[0] != "total":
            counts[parts[0]] = int(parts[1])
    return counts


def browser():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("DEPTHREFINE_REQUIRE_BROWSER"):
        pytest.fail("headless Chromium is required here (DEPTHREFINE_REQUIRE_BROWSER) but not installed")
    pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")


def headless(*args, timeout=120):
    cmd = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
