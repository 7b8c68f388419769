"""`dojo-nb serve` without the extra says what to install (runs whether openenv-core is there or not)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def test_serve_without_the_extra_says_what_to_install(tmp_path: Path) -> None:
    hide = ("import sys, importlib.abc\n"
            "class Hide(importlib.abc.MetaPathFinder):\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name == 'openenv' or name.startswith('openenv.'): raise ImportError('hidden by the test')\n"
            "sys.meta_path.insert(0, Hide())\n"
            "sys.argv = ['dojo-nb', 'serve', '--task', 'anything']\n"
            "from dojo_nb.cli import main; main()\n")
    done = subprocess.run([sys.executable, "-c", hide], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 2
    assert "pip install 'dojo-nb[serve]'" in done.stderr
    assert re.search(r"openenv-core", done.stderr)
