"""Safe HTML for people: cells and their outputs rendered so that nothing from an output runs.

The rule: every byte that came from the agent or from a kernel output reaches the page
either escaped as text, or re-serialised by `sanitize_html` from an allowlist of inert tags
and attributes (tables, text formatting, links to http(s)/mailto, raster images as data:
URIs). No ``<script>``, no ``on*`` attribute, no ``style``, no ``<iframe>``/``<svg>``/
``<object>`` from an output ever reaches the page; JavaScript outputs are shown as source;
SVG images are shown through ``<img src="data:...">`` (an SVG image cannot run script).
The page's Content-Security-Policy (see `page.py`) is the second wall, not the first.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import re
from html.parser import HTMLParser
from typing import Any, Mapping

from dojo_nb.kernel.render import strip_ansi

#: Longest text shown for one output; kernels already cap outputs, this bounds the page.
MAX_OUTPUT_CHARS = 100_000

_ALLOWED_TAGS = frozenset({
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "col", "colgroup", "dd", "del",
    "div", "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd",
    "li", "ol", "p", "pre", "s", "samp", "small", "span", "strong", "sub", "sup", "table",
    "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
})
_VOID_TAGS = frozenset({"br", "col", "hr", "img"})
#: Tags whose whole content is dropped (it is code, or a document of its own).
_DROP_CONTENT = frozenset({"script", "style", "iframe", "object", "embed", "template", "noscript",
                           "svg", "math", "frame", "frameset", "applet", "noembed", "title",
                           "textarea", "select", "xmp", "plaintext"})
#: Removals that only change the look (pandas puts a ``<style>`` before every table): the page
#: says nothing about them. Anything else removed could have run, fetched or framed something,
#: and the page says what it removed.
_INERT_REMOVALS = frozenset(f"<{t}>" for t in (
    "style", "title", "font", "center", "big", "tt", "strike", "nobr", "mark", "q", "cite", "var",
    "wbr", "bdi", "bdo", "time", "data", "label", "section", "article", "header", "footer", "main",
    "nav", "aside", "figure", "figcaption", "details", "summary", "meter", "progress", "legend",
    "fieldset", "address", "hgroup", "ruby", "rt", "rp", "dfn"))
_SAFE_HREF = re.compile(r"^(?:https?://|mailto:|#)", re.IGNORECASE)
_DATA_IMAGE = re.compile(r"^data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]+$")
_ALIGN = frozenset({"left", "right", "center", "justify"})
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")


def esc(value: Any) -> str:
    """Text to HTML text (quotes too, so the result is also safe inside an attribute)."""
    return html.escape("" if value is None else str(value), quote=True)


def _clean_attrs(tag: str, attrs: list[tuple[str, str | None]]) -> list[tuple[str, str]]:
    """The attributes kept for an allowed tag; anything not listed here is dropped."""
    kept: list[tuple[str, str]] = []
    for name, value in attrs:
        name, value = name.lower(), (value or "")
        if name in ("colspan", "rowspan") and tag in ("td", "th") and value.strip().isdigit():
            kept.append((name, value.strip()))
        elif name == "align" and value.strip().lower() in _ALIGN:
            kept.append((name, value.strip().lower()))
        elif name == "title":
            kept.append((name, value))
        elif name == "href" and tag == "a":
            url = _CONTROL.sub("", value)
            if _SAFE_HREF.match(url):
                kept.append((name, url))
        elif name == "alt" and tag == "img":
            kept.append((name, value))
        elif name == "src" and tag == "img":
            url = value.strip()
            if _DATA_IMAGE.match(url):
                kept.append((name, re.sub(r"\s+", "", url)))
    if tag == "a" and any(n == "href" for n, _ in kept):
        kept.append(("rel", "noopener noreferrer nofollow"))
    return kept


class _Sanitizer(HTMLParser):
    """Re-serialise HTML from an allowlist; counts what it removed so the page can say so."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.stack: list[str] = []
        self.skip: list[str] = []  # open tags whose content is dropped
        self.removed: dict[str, int] = {}

    def _removed(self, what: str) -> None:
        self.removed[what] = self.removed.get(what, 0) + 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        tag = tag.lower()
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.append(tag)
            return
        if tag in _DROP_CONTENT:
            self._removed(f"<{tag}>")
            self.skip.append(tag)
            return
        for name, _ in attrs:
            if name.lower().startswith("on"):
                self._removed(f"{name.lower()}=")
        if tag not in _ALLOWED_TAGS:  # the tag goes, its text stays (escaped)
            if tag not in ("html", "head", "body"):
                self._removed(f"<{tag}>")
            return
        kept = _clean_attrs(tag, attrs)
        if tag == "a" and any(n.lower() == "href" for n, _ in attrs) and not any(n == "href" for n, _ in kept):
            self._removed("a link that is not http(s)/mailto")
        if tag == "img" and not any(n == "src" for n, _ in kept):
            self._removed("<img> without a data: image")
            alt = next((v for n, v in kept if n == "alt"), "")
            if alt:
                self.out.append(esc(f"[image: {alt}]"))
            return
        attr_text = "".join(f' {n}="{esc(v)}"' for n, v in kept)
        self.out.append(f"<{tag}{attr_text}>")
        if tag not in _VOID_TAGS:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag.lower() in self.stack and tag.lower() not in _VOID_TAGS and self.stack[-1] == tag.lower():
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        tag = tag.lower()
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if tag not in self.stack:
            return  # a stray end tag never closes our page's own elements
        while self.stack:
            open_tag = self.stack.pop()
            self.out.append(f"</{open_tag}>")
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(esc(data))

    def close_all(self) -> str:
        self.close()
        while self.stack:
            self.out.append(f"</{self.stack.pop()}>")
        return "".join(self.out)


def sanitize_html(markup: str) -> tuple[str, dict[str, int]]:
    """Inert HTML rebuilt from `markup`, and a count of what was removed (e.g. ``{"<script>": 1}``)."""
    parser = _Sanitizer()
    parser.feed(markup)
    return parser.close_all(), parser.removed


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return "" if value is None else str(value)


def _cap(text: str) -> str:
    if len(text) <= MAX_OUTPUT_CHARS:
        return text
    cut = len(text) - MAX_OUTPUT_CHARS
    return text[:MAX_OUTPUT_CHARS // 2] + f"\n... [{cut} characters cut] ...\n" + text[-MAX_OUTPUT_CHARS // 2:]


def _collapse_cr(text: str) -> str:
    """What a terminal shows for progress bars rewritten with carriage returns."""
    if "\r" not in text:
        return text
    return "\n".join(next((p for p in reversed(line.split("\r")) if p), "") for line in text.split("\n"))


def pre(text: str, cls: str = "") -> str:
    """Escaped preformatted text."""
    return f'<pre class="{esc(cls)}">{esc(_cap(text))}</pre>' if cls else f"<pre>{esc(_cap(text))}</pre>"


# --- markdown -----------------------------------------------------------------------------
def _markdown_parser() -> Any:
    from markdown_it import MarkdownIt

    # "js-default": raw HTML is escaped, not passed through; javascript:/vbscript:/file: and
    # non-image data: links are refused. The result still goes through sanitize_html.
    return MarkdownIt("js-default", {"linkify": False, "typographer": False}).enable("table")


_MD: Any = None


def render_markdown(text: str) -> str:
    """Markdown from the agent or the task, rendered and then sanitized (remote images dropped)."""
    global _MD
    if _MD is None:
        _MD = _markdown_parser()
    try:
        rendered = _MD.render(_cap(text))
    except Exception:  # noqa: BLE001 - a parser bug must not lose the page: show the text
        return pre(text)
    safe, _ = sanitize_html(rendered)
    return safe


# --- images -------------------------------------------------------------------------------
_MAGIC = {"image/png": (b"\x89PNG\r\n\x1a\n",), "image/jpeg": (b"\xff\xd8\xff",),
          "image/gif": (b"GIF87a", b"GIF89a")}


def image_tag(mime: str, data: Any, alt: str = "output image") -> str | None:
    """``<img>`` with a data: URI for png/jpeg/gif (checked magic bytes) or svg; None if unusable."""
    if mime == "image/svg+xml":
        raw = _as_text(data).encode("utf-8", errors="replace")
        payload = base64.b64encode(raw).decode("ascii")
        return f'<img class="output-image" alt="{esc(alt)}" src="data:image/svg+xml;base64,{payload}">'
    if mime not in _MAGIC:
        return None
    text = re.sub(r"\s+", "", _as_text(data))
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    if not raw.startswith(_MAGIC[mime]):
        return None
    payload = base64.b64encode(raw).decode("ascii")  # re-encoded: only base64 characters remain
    return f'<img class="output-image" alt="{esc(alt)}" src="data:{mime};base64,{payload}">'


# --- outputs ------------------------------------------------------------------------------
def _note(text: str) -> str:
    return f'<div class="output-note">{esc(text)}</div>'


def active_removals(removed: Mapping[str, int]) -> dict[str, int]:
    """What `sanitize_html` removed that could have been active (not a mere stylesheet)."""
    return {k: n for k, n in removed.items() if k not in _INERT_REMOVALS}


def _render_html_output(markup: str) -> str:
    safe, removed = sanitize_html(markup)
    active = active_removals(removed)
    if not active:
        return f'<div class="output-html">{safe}</div>'
    what = ", ".join(f"{n} × {k}" for k, n in sorted(active.items()))
    return (f'{_note(f"HTML output shown inert: removed {what}")}<div class="output-html">{safe}</div>'
            f"<details><summary>HTML source</summary>{pre(markup, 'source')}</details>")


def render_data(data: Mapping[str, Any]) -> str:
    """One display_data / execute_result bundle: the richest mime type we can show safely."""
    for mime in ("image/png", "image/jpeg", "image/gif", "image/svg+xml"):
        if mime in data:
            tag = image_tag(mime, data[mime])
            if tag is not None:
                return tag
            return _note(f"[{mime} output that is not a valid image]")
    if "text/html" in data:
        return _render_html_output(_cap(_as_text(data["text/html"])))
    if "text/markdown" in data:
        return f'<div class="output-markdown">{render_markdown(_as_text(data["text/markdown"]))}</div>'
    for mime in ("application/javascript", "text/javascript"):
        if mime in data:
            return _note("JavaScript output (shown as source, not run)") + pre(_as_text(data[mime]), "source")
    if "text/latex" in data:
        return pre(_as_text(data["text/latex"]), "source")
    if "application/json" in data:
        try:
            text = json.dumps(data["application/json"], indent=1, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = str(data["application/json"])
        return pre(text)
    if "text/plain" in data:
        return pre(strip_ansi(_as_text(data["text/plain"])))
    if data:
        return _note(f"[output of type {', '.join(sorted(map(str, data)))} not shown]")
    return ""


def render_output(output: Mapping[str, Any]) -> str:
    """One nbformat output as inert HTML."""
    kind = output.get("output_type")
    if kind == "stream":
        name = "stderr" if output.get("name") == "stderr" else "stdout"
        return pre(_collapse_cr(strip_ansi(_as_text(output.get("text")))), f"stream {name}")
    if kind == "error":
        lines = output.get("traceback") or []
        text = strip_ansi("\n".join(map(str, lines))) if lines else ""
        head = f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"
        return pre(text if text.strip() else head, "error")
    if kind in ("display_data", "execute_result"):
        data = output.get("data")
        return render_data(data if isinstance(data, Mapping) else {})
    return _note(f"[unknown output type {kind!r}]")


def render_outputs(outputs: Any) -> str:
    """All outputs of a cell; one bad output never loses the others."""
    parts = []
    for out in outputs if isinstance(outputs, list) else []:
        try:
            parts.append(render_output(out if isinstance(out, Mapping) else {}))
        except Exception as exc:  # noqa: BLE001
            parts.append(_note(f"[output could not be rendered: {type(exc).__name__}]"))
    return "".join(parts)


# --- source code --------------------------------------------------------------------------
def render_code(source: str, language: str = "python") -> str:
    """Highlighted source (pygments escapes every token), as a ``<pre>``."""
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import get_lexer_by_name

        body = highlight(_cap(source), get_lexer_by_name(language), HtmlFormatter(nowrap=True))
    except Exception:  # noqa: BLE001 - unknown language or pygments missing: plain text
        body = esc(_cap(source))
    return f'<pre class="code hl">{body}</pre>'


def code_css() -> str:
    """Pygments colours for `render_code`, scoped to ``.hl``."""
    try:
        from pygments.formatters import HtmlFormatter

        return HtmlFormatter(style="default").get_style_defs(".hl")
    except Exception:  # noqa: BLE001
        return ""


__all__ = ["esc", "sanitize_html", "active_removals", "render_markdown", "image_tag", "render_data", "render_output",
           "render_outputs", "render_code", "code_css", "pre"]
