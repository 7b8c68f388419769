"""Parse a page with html.parser and list everything that could run or fetch."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "srcset", "poster", "data", "background"}
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")


@dataclass
class PageScan:
    tags: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    csp: str | None = None
    styles: int = 0
    text: list[str] = field(default_factory=list)


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scan = PageScan()
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        self.scan.tags.append((tag, a))
        if tag in ("script", "iframe", "object", "embed", "frame", "base", "form", "link") and not (
                tag == "link" and a.get("rel") == "icon" and a.get("href") == "data:,"):
            self.scan.problems.append(f"<{tag} {a}>")
        if tag == "style":
            self.scan.styles += 1
        for name, value in a.items():
            if name.startswith("on"):
                self.scan.problems.append(f"event handler {name}= on <{tag}>")
            if name == "style":
                self.scan.problems.append(f"style attribute on <{tag}>")
            if name in _URL_ATTRS:
                url = _CONTROL.sub("", value).lower()
                if url.startswith(("javascript:", "vbscript:")):
                    self.scan.problems.append(f"{name}={value!r} on <{tag}>")
                if tag == "img" and name == "src" and not url.startswith("data:image/"):
                    self.scan.problems.append(f"image not from a data: URI: {value[:80]!r}")
                if tag != "a" and url.startswith(("http:", "https:", "//")):
                    self.scan.problems.append(f"remote fetch {name}={value!r} on <{tag}>")
        if tag == "meta" and a.get("http-equiv", "").lower() == "content-security-policy":
            self.scan.csp = a.get("content")

    def handle_data(self, data: str) -> None:
        self.scan.text.append(data)


def scan_page(text: str) -> PageScan:
    parser = _Scanner()
    parser.feed(text)
    parser.close()
    return parser.scan


def assert_inert(text: str) -> PageScan:
    """The page runs nothing and fetches nothing: the checks a browser test repeats live."""
    scan = scan_page(text)
    assert not scan.problems, scan.problems
    assert scan.csp, "no Content-Security-Policy meta tag"
    directives = {d.strip().split()[0]: d.strip() for d in scan.csp.split(";") if d.strip()}
    assert directives.get("default-src") == "default-src 'none'", scan.csp
    assert "script-src" not in directives, scan.csp          # falls back to 'none'
    assert "unsafe-inline" not in scan.csp and "unsafe-eval" not in scan.csp, scan.csp
    assert directives.get("img-src") == "img-src data:", scan.csp
    assert scan.styles == 1, f"{scan.styles} <style> elements"
    svgs = [a for t, a in scan.tags if t == "svg"]
    # ours: the score chart, the search tree and its legend's dots (an output's <svg> never passes)
    assert all(a.get("class") in ("chart", "tree", "dot") for a in svgs), "an inline <svg> that is not ours"
    return scan
