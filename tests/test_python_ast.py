"""`dojo_nb.python_ast.parse`: the same tree as `ast.parse`, errors as usual, safe across threads."""

from __future__ import annotations

import ast
from concurrent.futures import ThreadPoolExecutor

import pytest

from dojo_nb import python_ast

SOURCE = "import pandas as pd\n" + "\n".join(f"x{i} = [{', '.join(str(j) for j in range(40))}]" for i in range(200))


def test_same_tree_as_ast_parse() -> None:
    assert ast.dump(python_ast.parse(SOURCE)) == ast.dump(ast.parse(SOURCE))


def test_syntax_errors_are_raised_as_usual() -> None:
    with pytest.raises(SyntaxError):
        python_ast.parse("def broken(:\n")


def test_many_threads_parse_at_once() -> None:
    with ThreadPoolExecutor(8) as pool:
        dumps = set(pool.map(lambda _: ast.dump(python_ast.parse(SOURCE)), range(64)))
    assert len(dumps) == 1
