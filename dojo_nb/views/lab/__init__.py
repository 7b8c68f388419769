"""The Jupyter server extension behind Lab Compare (enabled by the package's
etc/jupyter/jupyter_server_config.d/dojo_nb.json).

``GET /dojo-nb/api/pairing?a=PATH&b=PATH`` (paths relative to the Jupyter root) answers
with `dojo_nb.views.lab.pairing.pairing`, or ``{"refused": MESSAGE}`` when a side is not a
trajectory (200 all the same: a refusal is an answer, and the browser logs every 4xx as a
console error). The labextension (labextension/src/pairing.ts) calls it before opening anything.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web

from dojo_nb.views.lab.pairing import PairingError, pairing

ROUTE = "dojo-nb/api/pairing"


class PairingHandler(APIHandler):
    """The pairing of two trajectories, for the signed-in Lab user."""

    @web.authenticated
    def get(self) -> None:
        a, b = self.get_query_argument("a", ""), self.get_query_argument("b", "")
        root = self.settings.get("server_root_dir") or self.contents_manager.root_dir
        for rel in (a, b):  # as Lab's file browser: no hidden files unless the server allows them
            if not self.contents_manager.allow_hidden and any(p.startswith(".") for p in rel.split("/")):
                self._fail(f"{rel}: a hidden file")
                return
        try:
            answer = pairing(root, a, b)
        except PairingError as exc:
            self._fail(str(exc))
            return
        self.finish(json.dumps(answer))

    def _fail(self, message: str) -> None:
        self.finish(json.dumps({"refused": message}))


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    return [{"module": "dojo_nb.views.lab"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    web_app = server_app.web_app
    route = url_path_join(web_app.settings["base_url"], ROUTE)
    web_app.add_handlers(".*$", [(route, PairingHandler)])
    server_app.log.info("dojo-nb: Lab Compare pairing at /%s", ROUTE)


__all__ = ["PairingHandler", "ROUTE"]
