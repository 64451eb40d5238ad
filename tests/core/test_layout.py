"""The layering the README promises: the core never imports a task or plugin package."""
import ast
from pathlib import Path

CORE = Path(__file__).parents[2] / "laura_core"
OUTSIDE = {"laura_tasks", "laura_plugins", "tasks", "plugins", "tests"}


def test_the_core_imports_no_task_or_plugin():
    offenders = []
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) > 40 and CORE / "serving" / "app.py" in modules
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else []
            offenders += [f"{path.relative_to(CORE)}:{node.lineno} imports {n}" for n in names
                          if n.split(".")[0] in OUTSIDE]
    assert not offenders, offenders
