"""The page shell: one self-contained HTML document with a strict Content-Security-Policy.

The page fetches nothing and runs no script but, on the run index, its own small sorting
script (allowed by its sha256 hash like the stylesheet): the stylesheet is inline and allowed by
its sha256 hash (so no ``style=`` attribute or ``<style>`` from anywhere else applies),
images must be data: URIs, and everything else (scripts, frames, fonts, connections,
forms, ``<base>``) is refused by ``default-src 'none'``. Only directives that a ``<meta>``
CSP honours are used, so the browser logs nothing about the policy itself.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

from dojo_nb.views.report.html import code_css, esc

_CSS = """
:root { --ok:#1a7f37; --err:#cf222e; --warn:#9a6700; --muted:#57606a; --line:#d0d7de;
        --bg:#f6f8fa; --a:#1f77b4; --b:#d62728; }
* { box-sizing: border-box; }
body { font: 14px/1.45 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color:#1f2328;
       margin: 0 auto; padding: 16px 24px 48px; max-width: 1200px; }
body.compare { max-width: 1800px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 17px; margin: 24px 0 8px; }
.subtitle { color: var(--muted); margin-bottom: 12px; }
.banner { border: 1px solid var(--warn); background: #fff8c5; padding: 8px 12px; border-radius: 6px;
          margin: 8px 0; }
table.summary { border-collapse: collapse; margin: 8px 0; }
table.summary th, table.summary td { border: 1px solid var(--line); padding: 4px 10px; text-align: left;
                                     vertical-align: top; }
table.summary th { background: var(--bg); font-weight: 600; }
table.summary tr.differs td { background: #fff8c5; }
.chart { margin: 8px 0; max-width: 100%; height: auto; }
.chart text { font: 11px sans-serif; fill: #1f2328; }
.chart .axis { stroke: #57606a; } .chart .grid { stroke: #eaeef2; }
article.cell { border: 1px solid var(--line); border-left: 4px solid var(--line); border-radius: 6px;
               margin: 10px 0; background: #fff; overflow: hidden; }
article.cell.status-ok { border-left-color: var(--ok); }
article.cell.status-error, article.cell.status-crashed, article.cell.status-timeout,
article.cell.status-invalid_action { border-left-color: var(--err); }
.cell-head { display: flex; flex-wrap: wrap; gap: 6px 10px; align-items: center; padding: 4px 10px;
             background: var(--bg); border-bottom: 1px solid var(--line); font-size: 12px; }
.cell-body { padding: 6px 10px; overflow-x: auto; }
.badge { display: inline-block; padding: 0 7px; border-radius: 10px; font-size: 12px; font-weight: 600;
         border: 1px solid var(--line); background: #fff; }
.badge.ok { color: var(--ok); border-color: var(--ok); }
.badge.error, .badge.crashed, .badge.timeout, .badge.invalid_action { color: #fff; background: var(--err);
         border-color: var(--err); }
.badge.reward { color: var(--a); border-color: var(--a); }
.muted { color: var(--muted); }
pre { margin: 4px 0; padding: 6px 8px; background: var(--bg); border-radius: 4px; white-space: pre-wrap;
      word-break: break-word; font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre.code { background: #fbfcfd; border: 1px solid #eaeef2; }
pre.stderr { background: #fff5f5; } pre.error { background: #ffebe9; color: #82071e; }
pre.source { background: #fff8c5; }
.output-note { font-size: 12px; color: var(--warn); margin: 4px 0; }
.output-html table { border-collapse: collapse; font-size: 12px; }
.output-html th, .output-html td { border: 1px solid var(--line); padding: 2px 6px; }
img.output-image { max-width: 100%; height: auto; display: block; margin: 4px 0; }
.outputs { border-top: 1px dashed var(--line); margin-top: 4px; padding-top: 2px; }
details > summary { cursor: pointer; color: var(--muted); font-size: 12px; }
.cmp-grid { display: grid; grid-template-columns: 1fr 1fr; gap: 0 14px; }
.pair { display: contents; }
.slot { min-width: 0; }
.slot.empty { border: 1px dashed var(--line); border-radius: 6px; margin: 10px 0; background:
              repeating-linear-gradient(45deg, #fff, #fff 6px, #f6f8fa 6px, #f6f8fa 12px); }
.pair.changed article.cell { box-shadow: 0 0 0 2px #d4a72c; }
.pair.only-a article.cell, .pair.only-b article.cell { box-shadow: 0 0 0 2px #8250df; }
.colhead { position: sticky; top: 0; background: #fff; z-index: 1; padding: 6px 0; font-weight: 600;
           border-bottom: 2px solid var(--line); }
.colhead.a { color: var(--a); } .colhead.b { color: var(--b); }
.line-del { background: #ffebe9; display: block; } .line-ins { background: #dafbe1; display: block; }
.legend-key { font-size: 12px; color: var(--muted); }
table.board { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
table.board th, table.board td { border: 1px solid var(--line); padding: 3px 8px; text-align: left; }
table.board th { background: var(--bg); position: sticky; top: 0; }
table.board td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.board tr.broken td { background: #ffebe9; } table.board td a { white-space: nowrap; }
table.board th button { font: inherit; font-weight: 600; border: 0; background: none; padding: 0;
                        cursor: pointer; color: inherit; }
table.board th[aria-sort="ascending"] button::after { content: " ▲"; }
table.board th[aria-sort="descending"] button::after { content: " ▼"; }
.medal { font-weight: 600; } .medal.gold { color: #9a6700; } .medal.silver { color: #57606a; }
.medal.bronze { color: #953800; }
.tree-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 6px; }
svg.tree text { font: 11px sans-serif; fill: #1f2328; } svg.tree text.in { fill: #fff; font-weight: 600; }
svg.tree .edge { stroke: #8c959f; stroke-width: 1.5; fill: none; }
svg.tree .edge.win { stroke: #d4a72c; stroke-width: 4; }
svg.tree .node.win circle { stroke: #d4a72c; stroke-width: 4; }
section.node { border-top: 2px solid var(--line); margin-top: 18px; }
section.node:target { outline: 3px solid #d4a72c; outline-offset: 4px; }
"""


def stylesheet() -> str:
    """The page's one stylesheet: layout plus the code colours."""
    return _CSS + code_css()


def scoped_stylesheet(scope: str) -> str:
    """The stylesheet with every rule limited to elements under `scope` (a class selector).

    For HTML embedded in someone else's page (a notebook widget), where rules for ``body``,
    ``pre`` or ``*`` would restyle JupyterLab itself.
    """
    rules = []
    css = re.sub(r"/\*.*?\*/", "", stylesheet(), flags=re.S)
    for chunk in css.split("}"):
        if "{" not in chunk:
            continue
        selectors, body = chunk.split("{", 1)
        scoped = []
        for sel in selectors.split(","):
            sel = sel.strip()
            if not sel:
                continue
            if sel in ("body", "body.compare"):
                continue  # the host page's body is not ours
            if sel == ":root":
                scoped.append(scope)
            else:
                scoped.append(f"{scope} {sel}")
        if scoped:
            rules.append(f"{', '.join(scoped)} {{{body}}}")
    return "\n".join(rules)


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")


def content_security_policy(css: str, script: str | None = None) -> str:
    """The CSP for a page whose only style is `css`: no fetch, data: images, and no script but
    `script` (one of ours, allowed by its hash; nothing from a cell output is ever a script)."""
    scripts = f"script-src 'sha256-{_sha256(script)}'; " if script is not None else ""
    return ("default-src 'none'; img-src data:; "
            f"style-src 'sha256-{_sha256(css)}'; {scripts}base-uri 'none'; form-action 'none'")


def page(title: str, body: str, *, body_class: str = "", script: str | None = None) -> str:
    """A whole HTML document around `body` (already safe HTML); `script`: our own, inline, hashed."""
    css = stylesheet()
    cls = f' class="{esc(body_class)}"' if body_class else ""
    tail = f"<script>{script}</script>\n" if script is not None else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{esc(content_security_policy(css, script))}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        '<link rel="icon" href="data:,">\n'
        f"<title>{esc(title)}</title>\n<style>{css}</style>\n</head>\n"
        f"<body{cls}>\n{body}\n{tail}</body>\n</html>\n"
    )


def write_page(text: str, out: Path) -> Path:
    """Write the page atomically: a failure leaves no half-written file behind."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return out


__all__ = ["page", "write_page", "stylesheet", "scoped_stylesheet", "content_security_policy"]
