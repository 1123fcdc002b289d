"""Walk the model folders at the speed of ``os.scandir``: plain strings, one stat a file.

Symlinks are followed, each real folder once (a loop or a folder reached twice is walked
once); hidden folders (``.git``, ``.cache``) are skipped; broken links are ignored; a name
that is not valid UTF-8 (the database cannot store it) is skipped with a warning.

Paths come in string order under each root (a folder's entries sorted with a sub-folder
``d`` as ``d/``, so ``a.safetensors`` < ``a/x.safetensors`` < ``a0.safetensors``): the
order of the database's path index, so a scan compares the two in one merged pass.
"""

from __future__ import annotations

import logging
import os
import stat as stat_mod
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "MODEL_EXTENSIONS",
    "FoundFile",
    "is_model_file",
    "iter_model_files",
    "walk_model_files",
    "walk_root",
]

log = logging.getLogger(__name__)

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
    """``(folder key, root, path, stat)`` of every model file under ``dirs``, as strings,
    in path order under each root. Stops early (without an error) when ``cancel`` is set."""
    visited: set[tuple[int, int]] = set()
    for key, root in dirs:
        root = os.fspath(root)
        for path, st in walk_root(root, visited, cancel):
            yield key, root, path, st


def walk_root(
    root: str, visited: set[tuple[int, int]], cancel: threading.Event | None = None
) -> Iterator[tuple[str, os.stat_result]]:
    """``(path, stat)`` of the model files under ``root`` in string order of the paths.

    ``visited`` (device, inode) of the folders walked so far, shared across roots.
    """
    top = _listing(root, visited)
    stack = [top] if top is not None else []
    while stack:
        if cancel is not None and cancel.is_set():
            return
        for sort_key, entry in stack[-1]:
            if sort_key[-1] == "/":
                sub = _listing(entry.path, visited)
                if sub is not None:
                    stack.append(sub)
                    break  # walk the sub-folder now; this folder's iterator waits
                continue
            try:
                st = entry.stat()
            except OSError:
                continue  # a broken link, or gone since the listing
            if stat_mod.S_ISREG(st.st_mode):
                yield entry.path, st
        else:
            stack.pop()


def _listing(
    folder: str, visited: set[tuple[int, int]]
) -> Iterator[tuple[str, os.DirEntry]] | None:
    """The model files and sub-folders of ``folder`` in walk order (None: seen or unreadable)."""
    try:
        st = os.stat(folder)
        if (st.st_dev, st.st_ino) in visited:
            return None  # a symlink loop or a folder reached twice
        visited.add((st.st_dev, st.st_ino))
        with os.scandir(folder) as it:
            entries = list(it)
    except OSError:
        return None
    items = []
    for entry in entries:
        name = entry.name
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if is_dir:
            if name[0] == ".":
                continue
            sort_key = name + "/"
        elif is_model_file(name):
            sort_key = name
        else:
            continue
        try:
            name.encode()
        except UnicodeEncodeError:
            log.warning("Skipped %r: its name is not valid UTF-8.", entry.path)
            continue
        items.append((sort_key, entry))
    items.sort()  # by name (unique in a folder: the entries themselves are never compared)
    return iter(items)


def iter_model_files(dirs: Iterable[tuple[str, str | os.PathLike[str]]]) -> Iterator[FoundFile]:
    """Every model file under ``dirs`` as a :class:`FoundFile` (the scan uses the strings)."""
    for key, root, path, st in walk_model_files(dirs):
        yield FoundFile(folder=key, path=Path(path), root=Path(root), st=st)
