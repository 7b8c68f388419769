"""The input folder described for the agent: every file with its size and kind, bounded in length.

Real competitions ship more than ``train.csv``/``test.csv``: JSON and JSONL records, zips of
images, folders of thousands of PNGs, one sub-folder per sample. An agent (the baseline
included) can only use what it is told is there, so the listing names every kind of input
with what is cheap to know (CSV rows and columns, JSON record counts and keys, a zip's
members by extension), summarises large folders instead of naming each file, and stops at a
fixed number of lines so a folder of a million files still gives a short answer. Links are
never followed (the folder is the sandbox's).
"""

from __future__ import annotations

import csv
import json
import os
import zipfile
from collections import Counter
from pathlib import Path

#: Lines of the whole listing, at most (then a line says how many entries were left out).
MAX_LINES = 80
#: A folder with more direct files than this is summarised by kind, not listed file by file.
MAX_FILES_PER_FOLDER = 12
#: Sub-folders described one by one, at most (more are summarised together).
MAX_SUBFOLDERS = 12
#: How deep folders are described before being summarised as a whole.
MAX_DEPTH = 3
#: Files above these sizes are not opened to count rows or records.
MAX_PARSE_BYTES = 20 * 1024 * 1024
MAX_COUNT_BYTES = 256 * 1024 * 1024
_MAX_NAMES = 12
_IMAGES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp", ".dcm"}
_TEXT_HEAD = (".csv", ".tsv", ".txt", ".json", ".md")


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:_MAX_NAMES])
    return shown + (f", ... ({len(names)} in all)" if len(names) > _MAX_NAMES else "")


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def _csv_kind(path: Path, size: int) -> str:
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        header = next(reader, [])
        if size <= MAX_PARSE_BYTES:
            rows = f"{sum(1 for _ in reader):,} rows"
        elif size <= MAX_COUNT_BYTES:
            rows = f"about {max(0, _count_lines(path) - 1):,} rows"
        else:
            rows = "rows not counted"
    return f"CSV, {rows} x {len(header)} columns: {_names(header)}"


def _json_kind(path: Path, size: int) -> str:
    if size > MAX_PARSE_BYTES:
        return "JSON"
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (ValueError, UnicodeDecodeError):
        return "JSON (not parseable)"
    if isinstance(data, list):
        keys = list(data[0]) if data and isinstance(data[0], dict) else []
        return f"JSON list of {len(data):,} records" + (f", keys: {_names(keys)}" if keys else "")
    if isinstance(data, dict):
        return f"JSON object, keys: {_names(list(data))}"
    return "JSON"


def _jsonl_kind(path: Path, size: int) -> str:
    with open(path, encoding="utf-8", errors="replace") as fh:
        first = fh.readline(1 << 20)
    try:
        keys = list(json.loads(first)) if first.strip() else []
    except ValueError:
        keys = []
    count = f"{_count_lines(path):,} records" if size <= MAX_COUNT_BYTES else "records not counted"
    return f"JSON lines, {count}" + (f", keys: {_names(keys)}" if keys else "")


def _by_extension(names: list[str]) -> str:
    kinds = Counter(Path(n).suffix.lower() or "(no extension)" for n in names)
    return ", ".join(f"{n:,} {ext}" for ext, n in kinds.most_common(6)) + (", ..." if len(kinds) > 6 else "")


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError):
        return "zip (not readable)"
    names = [i.filename for i in infos]
    total = sum(i.file_size for i in infos)
    folders = sorted({n.split("/", 1)[0] + "/" for n in names if "/" in n})
    where = f"; in {_names(folders)}" if folders else ""
    images = sum(Path(n).suffix.lower() in _IMAGES for n in names)
    what = f"{images:,} images" if images and images == len(names) else _by_extension(names)
    example = f"; e.g. {names[0]}" if names else ""
    return f"zip of {len(names):,} files ({total:,} bytes unpacked): {what}{where}{example}"


def file_kind(path: Path) -> str:
    """What a file is, with what is cheap to know about its contents ("" when nothing is)."""
    suffix = path.suffix.lower()
    try:
        size = path.lstat().st_size
        if suffix in (".csv", ".tsv"):
            return _csv_kind(path, size)
        if suffix == ".json":
            return _json_kind(path, size)
        if suffix in (".jsonl", ".ndjson"):
            return _jsonl_kind(path, size)
        if suffix == ".zip":
            return _zip_kind(path)
        if suffix in _IMAGES:
            return "image"
        if suffix in (".txt", ".md"):
            return f"text, {_count_lines(path):,} lines" if size <= MAX_COUNT_BYTES else "text"
        if suffix in (".parquet", ".npy", ".npz", ".h5", ".hdf5", ".pkl", ".tfrecord"):
            return suffix[1:] + " file"
    except OSError:
        return "not readable"
    return ""


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    """Regular files and real sub-folders of `folder` (links skipped), sorted."""
    files, dirs = [], []
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return [], []
    for e in entries:
        if e.is_symlink():
            continue
        if e.is_dir(follow_symlinks=False):
            dirs.append(Path(e.path))
        elif e.is_file(follow_symlinks=False):
            files.append(Path(e.path))
    return files, dirs


def _tree_stats(folder: Path) -> tuple[list[str], int, int]:
    """(relative file names, total bytes, sub-folders) under `folder`, links not followed."""
    names, total, subdirs = [], 0, 0
    for dirpath, dirnames, filenames in os.walk(folder):
        subdirs += len(dirnames)
        dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                names.append(os.path.relpath(p, folder))
                total += os.lstat(p).st_size
    return names, total, subdirs


def _head_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8", errors="replace") as fh:
        return [line for line in (fh.readline().rstrip("\n")[:300] for _ in range(4)) if line]


class _Listing:
    def __init__(self, root: Path, kernel_root: str, head: bool) -> None:
        self.root, self.kernel_root, self.head = root, kernel_root, head
        self.lines: list[str] = []
        self.left_out = 0

    def add(self, line: str) -> None:
        if len(self.lines) < MAX_LINES:
            self.lines.append(line)
        else:
            self.left_out += 1

    def name(self, p: Path) -> str:
        return f"{self.kernel_root}/{p.relative_to(self.root).as_posix()}"

    @property
    def full(self) -> bool:
        return len(self.lines) >= MAX_LINES

    def file(self, p: Path, indent: str) -> None:
        if self.full:  # nothing more is opened once the listing is full: it only counts
            self.left_out += 1
            return
        kind = file_kind(p)
        self.add(f"{indent}{self.name(p)}  ({p.lstat().st_size:,} bytes{'; ' + kind if kind else ''})")
        if self.head and indent == "  " and p.suffix.lower() in _TEXT_HEAD:
            for line in _head_lines(p):
                self.add(f"{indent}    {line}")

    def summary(self, folder: Path, indent: str) -> None:
        names, total, subdirs = _tree_stats(folder)
        example = f"; e.g. {self.name(folder / names[0])}" if names else ""
        sub = f", {subdirs:,} sub-folders" if subdirs else ""
        self.add(f"{indent}{self.name(folder)}/  (folder: {len(names):,} files{sub}, {total:,} bytes: "
                 f"{_by_extension(names) if names else 'empty'}{example})")

    def folder(self, folder: Path, indent: str, depth: int) -> None:
        if self.full:
            self.left_out += 1
            return
        files, dirs = _walk(folder)
        if folder == self.root and len(files) + len(dirs) > MAX_LINES:
            self.add(f"  {self.kernel_root}/  ({len(files):,} files and {len(dirs):,} folders at the top: "
                     f"{_by_extension([p.name for p in files])}; the first ones follow)")
        if folder != self.root:
            if depth > MAX_DEPTH or len(files) > MAX_FILES_PER_FOLDER or len(dirs) > MAX_SUBFOLDERS:
                self.summary(folder, indent)
                return
            self.add(f"{indent}{self.name(folder)}/  (folder: {len(files)} files, {len(dirs)} sub-folders)")
            indent += "  "
        for p in files:
            self.file(p, indent)
        for d in dirs:
            self.folder(d, indent, depth + 1)


def describe_inputs(input_dir: Path, kernel_input_dir: str, *, head: bool = False) -> str:
    """Every input file as the kernel names it, with size and kind; big folders summarised."""
    if not input_dir.is_dir() or input_dir.is_symlink() or input_dir.parent.is_symlink():
        return "  (no files)"
    listing = _Listing(input_dir, kernel_input_dir, head)
    listing.folder(input_dir, "  ", 0)
    if listing.left_out:
        listing.lines.append(f"  ... {listing.left_out:,} more entries left out (list the folder yourself)")
    return "\n".join(listing.lines) or "  (no files)"


__all__ = ["MAX_LINES", "describe_inputs", "file_kind"]
