"""The layering the README promises: the core never imports a task or plugin package, and its parts
depend one way only (data and training may use the model, never the other way round)."""
import ast
from pathlib import Path

CORE = Path(__file__).parents[2] / "laura_core"
OUTSIDE = {"laura_tasks", "laura_plugins", "tasks", "plugins", "tests"}
# Each part may import the top-level modules (the protocol and shared utilities) and the parts named here.
USES = {"model": set(), "data": {"model"}, "training": {"model", "data"}, "inference": {"model", "data", "training"},
        "scoring": set()}
ENTRY_POINTS = {"cli", "api", "serving", "__main__"}  # these may import any part


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of ``path``, those inside functions included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found += [(node.lineno, f"{node.module}.{a.name}" if node.module == "laura_core" else node.module)
                      for a in node.names]
    return found


def part_of(module: str) -> str | None:
    """The part (first folder or top-level module) of a ``laura_core`` module, None outside the core."""
    bits = module.split(".")
    return bits[1] if bits[0] == "laura_core" and len(bits) > 1 else None


def test_the_core_imports_no_task_or_plugin():
    offenders = []
    modules = sorted(CORE.rglob("*.py"))
    assert len(modules) > 40 and CORE / "serving" / "app.py" in modules
    for path in modules:
        offenders += [f"{path.relative_to(CORE)}:{line} imports {name}" for line, name in imports(path)
                      if name.split(".")[0] in OUTSIDE]
    assert not offenders, offenders


def test_the_parts_depend_one_way():
    assert all((CORE / part / "__init__.py").is_file() for part in USES)
    top = {p.stem for p in CORE.glob("*.py")} - ENTRY_POINTS - {"__init__"}
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE)
        source = rel.parts[0].removesuffix(".py")
        if source in ENTRY_POINTS:
            continue
        allowed = top | USES[source] | {source} if source in USES else top
        offenders += [f"{rel}:{line} imports {name}" for line, name in imports(path)
                      if part_of(name) is not None and part_of(name) not in allowed]
    assert not offenders, offenders


def test_the_layering_check_catches_a_backward_import(tmp_path):
    """The check above reads imports inside functions too (the usual way round a cycle)."""
    module = tmp_path / "m.py"
    module.write_text("def load():\n    from laura_core.training.checkpoint import latest_checkpoint\n")
    assert imports(module) == [(2, "laura_core.training.checkpoint")]
    assert part_of("laura_core.training.checkpoint") == "training" and part_of("numpy") is None
