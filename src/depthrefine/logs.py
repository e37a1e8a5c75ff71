"""Logging for workflow scripts: to the rule's log file and to stderr, one format. An error
that ends the script is written to the log file too, so `logs/<rule>/…` says why a job failed."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | None = None, level: int = logging.INFO) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_path:
        # emptied, then appended to: another writer of the same file (OpenSim's output,
        # angles/opensim_run.py) then lands at the end instead of being overwritten
        open(log_path, "w").close()
        file_handler = logging.FileHandler(log_path, mode="a")
        handlers.append(file_handler)
        _log_uncaught_errors_to(file_handler)
    logging.basicConfig(level=level, format=FORMAT, handlers=handlers, force=True)


def _log_uncaught_errors_to(handler: logging.Handler) -> None:
    previous = sys.excepthook

    def hook(exc_type, exc, tb):
        if not issubclass(exc_type, KeyboardInterrupt):
            handler.setFormatter(logging.Formatter(FORMAT))
            record = logging.LogRecord("depthrefine", logging.ERROR, "", 0, "%s: %s", (exc_type.__name__, exc), None)
            handler.handle(record)  # the file only: the traceback still goes to stderr below
        previous(exc_type, exc, tb)

    sys.excepthook = hook
