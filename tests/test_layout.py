"""The architecture as the folder tree shows it: data and models know nothing of each
other, the modules below them nothing of either, and no module keeps state that entry
points share."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ocr"
# Used by both sides (frame arithmetic, the codec, metrics, files, option checks, figures).
SHARED = {"ocr.geometry", "ocr.text", "ocr.metrics", "ocr.files", "ocr.options", "ocr.visualize", "ocr.report"}


def imports(path: Path) -> set[str]:
    """The ocr modules ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ocr"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("ocr")}
    return found


def modules(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("side, other", [("data", "ocr.models"), ("models", "ocr.data")])
def test_data_and_models_do_not_import_each_other(side, other):
    for path in modules(PACKAGE / side):
        assert not {m for m in imports(path) if m.startswith(other)}, path


def test_shared_modules_import_neither_side_nor_anything_above():
    for name in SHARED:
        path = PACKAGE / f"{name.split('.')[1]}.py"
        assert imports(path) <= SHARED, (path, imports(path) - SHARED)


def test_no_module_keeps_global_state_for_another_to_find():
    """No ``global`` statement, but in the initializer of the rendering pool's worker
    processes (each keeps the jobs it renders, set once rather than pickled per shard)."""
    allowed = {("render.py", "_set_sets")}
    for path in [*modules(PACKAGE), *modules(PACKAGE / "data"), *modules(PACKAGE / "models")]:
        for function in ast.walk(ast.parse(path.read_text())):
            if isinstance(function, (ast.FunctionDef, ast.Module)):
                body = function.body if isinstance(function, ast.FunctionDef) else []
                if any(isinstance(n, ast.Global) for n in ast.walk(ast.Module(body=body, type_ignores=[]))):
                    assert (path.name, function.name) in allowed, (path, function.name)
