"""Walk the model folders at the speed of ``os.scandir``: plain strings, one stat a file.

Symlinks are followed, each real folder once (a loop or a folder reached twice is walked
once); hidden folders (``.git``, ``.cache``) are skipped; broken links are ignored. Each
folder's files come in name order, then its sub-folders, depth first (``os.walk`` order).
"""

from __future__ import annotations

import os
import stat as stat_mod
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["MODEL_EXTENSIONS", "FoundFile", "is_model_file", "iter_model_files", "walk_model_files"]

MODEL_EXTENSIONS = frozenset(
    {
        ".safetensors",
        ".ckpt",
        ".pt",
        ".pth",
        ".bin",
        ".gguf",
        ".sft",
        ".pt2",
        ".pkl",
        ".onnx",
    }
)


@dataclass(frozen=True)
class FoundFile:
    """A model file found on disk: its folder key, path, the folder it was found under."""

    folder: str
    path: Path
    root: Path
    st: os.stat_result

    @property
    def relpath(self) -> str:
        return os.path.relpath(self.path, self.root)


def is_model_file(name: str) -> bool:
    """A model file by extension (``.part`` downloads and sidecars are not)."""
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in MODEL_EXTENSIONS


def walk_model_files(
    dirs: Iterable[tuple[str, str | os.PathLike[str]]],
    cancel: threading.Event | None = None,
) -> Iterator[tuple[str, str, str, os.stat_result]]:
    """``(folder key, root, path, stat)`` of every model file under ``dirs``, as strings.

    Stops early (without an error) when ``cancel`` is set.
    """
    visited: set[tuple[int, int]] = set()
    for key, root in dirs:
        root = os.fspath(root)
        stack = [root]
        while stack:
            if cancel is not None and cancel.is_set():
                return
            folder = stack.pop()
            try:
                st = os.stat(folder)
                with os.scandir(folder) as it:
                    entries = sorted(it, key=_name)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in visited:
                continue  # a symlink loop or a folder reached twice
            visited.add((st.st_dev, st.st_ino))
            subdirs = []
            for entry in entries:
                name = entry.name
                try:
                    if entry.is_dir():
                        if name[0] != ".":
                            subdirs.append(entry.path)
                        continue
                    if not is_model_file(name):
                        continue
                    fst = entry.stat()
                except OSError:
                    continue  # a broken link, or gone since the listing
                if stat_mod.S_ISREG(fst.st_mode):
                    yield key, root, entry.path, fst
            stack.extend(reversed(subdirs))


def _name(entry: os.DirEntry) -> str:
    return entry.name


def iter_model_files(dirs: Iterable[tuple[str, str | os.PathLike[str]]]) -> Iterator[FoundFile]:
    """Every model file under ``dirs`` as a :class:`FoundFile` (the scan uses the strings)."""
    for key, root, path, st in walk_model_files(dirs):
        yield FoundFile(folder=key, path=Path(path), root=Path(root), st=st)
