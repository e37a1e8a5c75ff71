"""Exceptions that name the offending file and what was expected."""

from __future__ import annotations


class DataError(ValueError):
    """Input data that cannot be used: names the file, where, and what was expected."""

    def __init__(self, path, message: str, *, line: int | None = None, frame: int | None = None):
        self.path = str(path)
        self.line = line
        self.frame = frame
        where = self.path
        if line is not None:
            where += f", line {line}"
        if frame is not None:
            where += f", frame {frame}"
        super().__init__(f"{where}: {message}")


class SourceError(RuntimeError):
    """A CMU source (git repository, archive URL, local mirror) that cannot be read."""
