"""Turn nbformat outputs into the text an LLM reads: the one place that decides that rendering.

Rules: ANSI escapes are stripped and carriage-return progress bars collapse to their last
state; images become a one-line summary with their size (``[image/png 640x480]``);
``text/plain`` wins when present, else HTML is reduced to text; a long rendering keeps its
head and tail with a marker saying how much was cut.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from html.parser import HTMLParser
from typing import Any, Iterable, Mapping

DEFAULT_MAX_CHARS = 8000

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml", "image/bmp")


def strip_ansi(text: str) -> str:
    """Remove terminal colour and cursor codes (tracebacks are full of them)."""
    return _ANSI.sub("", text)


def _collapse_carriage_returns(text: str) -> str:
    """Keep what a terminal would show for lines rewritten with ``\\r`` (progress bars)."""
    if "\r" not in text:
        return text
    lines = []
    for line in text.split("\n"):
        if "\r" in line:
            parts = [p for p in line.split("\r")]
            # "a\r\n" is a Windows line end, not a rewrite.
            line = next((p for p in reversed(parts) if p), "")
        lines.append(line)
    return "\n".join(lines)


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


def _b64_prefix(data: Any, n_bytes: int) -> bytes:
    """Decode only the first bytes of a base64 payload (image headers), never the whole image."""
    text = _as_text(data).replace("\n", "").strip()
    chars = ((n_bytes + 2) // 3) * 4
    try:
        return base64.b64decode(text[:chars], validate=False)
    except (binascii.Error, ValueError):
        return b""


def image_size(mime: str, data: Any) -> tuple[int, int] | None:
    """Width and height from the image header bytes (PNG, GIF, JPEG, BMP), else None."""
    if mime == "image/png":
        head = _b64_prefix(data, 24)
        if len(head) >= 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
    elif mime == "image/gif":
        head = _b64_prefix(data, 10)
        if len(head) >= 10 and head[:3] == b"GIF":
            return struct.unpack("<HH", head[6:10])
    elif mime == "image/bmp":
        head = _b64_prefix(data, 26)
        if len(head) >= 26 and head[:2] == b"BM":
            w, h = struct.unpack("<ii", head[18:26])
            return abs(w), abs(h)
    elif mime == "image/jpeg":
        return _jpeg_size(_b64_prefix(data, 64 * 1024))
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 < len(head):
        if head[i] != 0xFF:
            i += 1
            continue
        marker = head[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", head[i + 2 : i + 4])
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", head[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


class _HTMLText(HTMLParser):
    """Collects visible text; block tags become line breaks and table cells are tab-separated."""

    _BLOCK = {"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
              "table", "thead", "tbody", "ul", "ol", "hr", "caption", "section", "blockquote"}
    _SKIP = {"script", "style", "head", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in self._SKIP:
            self._skipping += 1
        elif tag in self._BLOCK:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("\t")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Reduce HTML to readable text (tables keep one row per line)."""
    parser = _HTMLText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient, but never let a rendering crash a step
        return re.sub(r"<[^>]+>", " ", html)
    lines = []
    for line in "".join(parser.parts).split("\n"):
        cells = [re.sub(r"[ \f\v\r]+", " ", c).strip() for c in line.split("\t")]
        cells = [c for c in cells if c]
        if cells:
            lines.append("  ".join(cells))
    return "\n".join(lines)


_OBJECT_REPR = re.compile(r"^<[\w.]+ object( at 0x[0-9a-f]+)?>$")


def render_data(data: Mapping[str, Any]) -> str:
    """One rich output (execute_result / display_data) as text."""
    for mime in _IMAGE_TYPES:
        if mime in data:
            size = image_size(mime, data[mime])
            return f"[{mime} {size[0]}x{size[1]}]" if size else f"[{mime}]"
    plain = _as_text(data["text/plain"]) if "text/plain" in data else None
    # A bare object repr ("<IPython.core.display.HTML object>") says less than the HTML itself.
    if plain is not None and not (_OBJECT_REPR.match(plain.strip()) and "text/html" in data):
        return plain
    if "text/html" in data:
        return html_to_text(_as_text(data["text/html"]))
    for mime in ("text/markdown", "text/latex", "application/json"):
        if mime in data:
            return _as_text(data[mime])
    kinds = ", ".join(sorted(data)) or "empty"
    return f"[{kinds}]"


def render_error(error: Mapping[str, Any]) -> str:
    tb = error.get("traceback") or []
    if tb:
        return "\n".join(strip_ansi(_as_text(line)) for line in tb)
    return f"{error.get('ename', 'Error')}: {error.get('evalue', '')}"


def truncate_middle(text: str, max_chars: int) -> str:
    """Head and tail of a long text (60/40), with a marker saying how much was cut.

    The one truncation of the project: observations, the agent's view and the LLM agent's
    history all cut text this way (record/view.py re-exports it)."""
    if max_chars <= 0 or len(text) <= max_chars:
        return text
    head = int(max_chars * 0.6)
    tail = max(0, max_chars - head)
    cut = len(text) - head - tail
    return f"{text[:head]}\n... [{cut} characters cut] ...\n{text[len(text) - tail:] if tail else ''}"


def render_text(
    outputs: Iterable[Mapping[str, Any]],
    error: Mapping[str, Any] | None = None,
    max_chars: int = DEFAULT_MAX_CHARS,
) -> str:
    """The LLM-ready text of a cell's outputs (and its error, unless already among them)."""
    parts: list[str] = []
    saw_error = False
    for out in outputs:
        kind = out.get("output_type")
        if kind == "stream":
            parts.append(_as_text(out.get("text")))
        elif kind in ("execute_result", "display_data"):
            rendered = render_data(out.get("data") or {})
            parts.append(rendered if rendered.endswith("\n") else rendered + "\n")
        elif kind == "error":
            saw_error = True
            parts.append(render_error(out) + "\n")
    if error and not saw_error:
        parts.append(render_error(error) + "\n")
    text = _collapse_carriage_returns(strip_ansi("".join(parts)))
    return truncate_middle(text.rstrip("\n"), max_chars)
