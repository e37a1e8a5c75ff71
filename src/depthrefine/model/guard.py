"""One trainer per run folder, and no trainer outliving the workflow that started it.

``RunLock`` holds an exclusive ``flock`` on ``<run>/.lock`` for as long as the trainer lives
(the kernel drops it when the process dies, even after ``kill -9``), so a second trainer on
the same folder is refused instead of resuming a ``last.pt`` that another one still writes.
``stop_when_parent_dies`` ends the trainer when the Snakemake process that started it is gone
(``kill -9`` of snakemake leaves its jobs running otherwise).
"""

from __future__ import annotations

import _thread
import fcntl
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"


class RunFolderBusy(RuntimeError):
    """Another live process trains into the same run folder."""


class RunLock:
    """Exclusive lock on a run folder; use as a context manager."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "unknown process"
            os.close(fd)
            raise RunFolderBusy(
                f"{self.path.parent} is being trained by another process ({holder}); wait for it to "
                "finish or stop it, then run again (it resumes from last.pt)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.ctime()}\n".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # releases the flock; the file stays (removing it would race)
            self._fd = None


def _stat(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (fields 3…), None if the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks (field 22): a pid alone could be reused."""
    fields = _stat(pid)
    return fields[19] if fields else None


def _parent(pid: int) -> int | None:
    fields = _stat(pid)
    return int(fields[1]) if fields else None


def _is_snakemake(pid: int) -> bool:
    """``snakemake …``, ``python /…/bin/snakemake …`` or ``python -m snakemake …``; not a
    script under ``.snakemake/scripts/``, which only has the name in a folder."""
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:3]
    except OSError:
        return False
    return any(Path(a.decode(errors="replace")).name == "snakemake" for a in args)


def watched_ancestors() -> list[int]:
    """This process's ancestors up to the nearest Snakemake process (Snakemake runs a script
    through a shell, which outlives Snakemake); only the direct parent when there is none."""
    chain, pid = [], os.getppid()
    while pid and pid > 1:
        chain.append(pid)
        if _is_snakemake(pid):
            return chain
        pid = _parent(pid)
    return chain[:1]


_PARENT_GONE = threading.Event()


def parent_gone() -> bool:
    """Whether ``stop_when_parent_dies`` saw the workflow go: the job's outputs must then not
    be written (Snakemake would find them incomplete, and the documented re-run would fail)."""
    return _PARENT_GONE.is_set()


def stop_when_parent_dies(interval_s: float = 2.0, grace_s: float = 30.0) -> threading.Thread | None:
    """Watch the ancestors of ``watched_ancestors``; when one is gone, interrupt the main thread
    (KeyboardInterrupt: the last checkpoint stays valid, as writes are atomic) and exit hard
    if it has not ended ``grace_s`` later. Linux only (/proc); elsewhere nothing is watched.
    Call it from the main thread: a job may start with SIGINT ignored, and then
    ``_thread.interrupt_main`` does nothing (the run went on to write its outputs in the
    grace period), so Python's own SIGINT handler is put back first."""
    if not Path("/proc/self/stat").is_file():
        return None
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    watched = {pid: _start_time(pid) for pid in watched_ancestors()}
    if not watched:
        return None

    def watch() -> None:
        while True:
            time.sleep(interval_s)
            gone = [pid for pid, started in watched.items() if _start_time(pid) != started]
            if gone:
                _PARENT_GONE.set()
                log.error("the workflow process %d that started this trainer is gone: stopping", gone[0])
                _thread.interrupt_main()
                time.sleep(grace_s)
                os._exit(1)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread
