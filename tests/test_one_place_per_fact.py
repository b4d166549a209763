"""The registry is the only place that knows each mechanism (issue #16).

No mechanism's name -- a key of ``registry.MECHANISMS`` or its class's name -- may decide
anything outside ``attn_edu/mechanisms/`` and ``attn_edu/registry.py``: not in the rest of the
package, not in the test of all ten (``tests/test_mechanisms_common.py``), not in the chapters'
code cells. What is found, with ``ast``:

* a name in a conditional: an operand of any comparison (``name == "se"``, ``name in ("cbam",
  "bam")``, ``mech.cls is EMSA``: this covers ``if``/``elif``/``while``, ternaries, comprehension
  filters and ``assert``), a ``match`` statement, ``isinstance``/``issubclass`` with a mechanism
  class, ``.startswith``/``.endswith`` with a name;
* dispatch through a table: a variable bound to a literal collection of names (``SPATIAL =
  ("cbam", ...)``, ``TARGETS = {"se": ...}``) used as a comparison's operand (``name in SPATIAL``),
  and a dict of constants keyed by names (``BOUND = {"se": "floor", ...}``, ``dict(se=...)``) or an
  inline one, looked up with a key that is not a constant (``BOUND[name]``, ``SHORT.get(n)``).

Naming a mechanism to *use* it (``registry.get("se")``, ``records["sk"]``, ``for n in ("se", "eca")``,
a dict of results or of models keyed by names) is fine: a chapter about SE is allowed to pick SE.
What a consumer needs to know about a mechanism (how to call it, its FLOPs, its bounding kernel,
its short name, the map the lab reads) is a field of its registry entry instead.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterator
from pathlib import Path

import nbformat
import pytest

from attn_edu.registry import MECHANISMS

ROOT = Path(__file__).resolve().parent.parent
KEYS = frozenset(MECHANISMS)
CLASSES = frozenset(m.cls.__name__ for m in MECHANISMS.values())
ALLOWED = (ROOT / "attn_edu" / "mechanisms", ROOT / "attn_edu" / "registry.py")


def is_name(node: ast.AST) -> bool:
    """``node`` spells a mechanism: a registry key as a string, or a mechanism class."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value in KEYS
    if isinstance(node, ast.Name):
        return node.id in CLASSES
    return isinstance(node, ast.Attribute) and node.attr in CLASSES


def names_in(node: ast.AST, tables: Collection[str] = ()) -> list[str]:
    """The mechanisms an operand spells: itself, the elements of a literal tuple/list/set, or a name table."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and len(node.args) == 1 and not node.keywords:
        return names_in(node.args[0], tables) if node.func.id in ("frozenset", "set", "tuple", "list") else []
    if is_name(node):
        return [ast.unparse(node)]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [ast.unparse(e) for e in node.elts if is_name(e)]
    if isinstance(node, ast.Name) and node.id in tables:
        return [node.id]
    return []


def _constant(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) or (
        isinstance(node, (ast.Tuple, ast.List)) and all(_constant(e) for e in node.elts))


def name_tables(trees: list[ast.AST]) -> tuple[set[str], set[str]]:
    """Variables bound to literal collections of mechanism names: ``(collections, fact tables)``.

    A collection is a tuple, list, set or dict that lists mechanisms (its elements or keys); a
    fact table is a dict keyed by mechanisms whose values are constants (``{"se": "floor"}``).
    """
    tables, facts = set(), set()
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
                continue
            value, keys = node.value, []
            if isinstance(value, ast.Dict):
                keys = [k for k in value.keys if k is not None and is_name(k)]
                values = value.values
            elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "dict":
                keys = [k for k in value.keywords if k.arg in KEYS]
                values = [k.value for k in value.keywords]
            targets = {t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                       if isinstance(t, ast.Name)}
            if keys:
                tables |= targets
                if all(_constant(v) for v in values):
                    facts |= targets
            elif names_in(value):
                tables |= targets
    return tables, facts


def dispatch(tree: ast.AST, tables: Collection[str] = (), facts: Collection[str] = ()) -> Iterator[tuple[int, str]]:
    """``(line, what)`` for every place in ``tree`` where a mechanism's name decides something."""
    for node in ast.walk(tree):
        found: list[str] = []
        if isinstance(node, ast.Compare):
            what = "comparison"
            for operand in (node.left, *node.comparators):
                found += names_in(operand, tables)
        elif isinstance(node, ast.Match):
            what = "match"
            found = [ast.unparse(n) for case in node.cases for n in ast.walk(case.pattern) if is_name(n)]
            found += names_in(node.subject, tables)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("isinstance",
                                                                                                    "issubclass"):
            what = "type test"
            found = names_in(node.args[1], tables) if len(node.args) == 2 else []
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in (
                "startswith", "endswith"):
            what = "prefix test"
            found = [n for a in node.args for n in names_in(a, tables)]
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in facts:
            what = "lookup in a dict keyed by mechanism names"
            found = [node.value.id] if not isinstance(node.slice, ast.Constant) else []
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
              and isinstance(node.func.value, ast.Name) and node.func.value.id in facts):
            what = "lookup in a dict keyed by mechanism names"
            found = [node.func.value.id] if node.args and not isinstance(node.args[0], ast.Constant) else []
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Dict):
            what = "lookup in a dict keyed by mechanism names"
            found = [ast.unparse(k) for k in node.value.keys if k is not None and is_name(k)]
        if found:
            yield node.lineno, f"{what} `{ast.unparse(node)[:100]}` on {', '.join(found)}"


def _without_magics(source: str) -> str:
    """A code cell's source with IPython magics and shell lines blanked (line numbers kept)."""
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def package_files() -> list[Path]:
    files = sorted((ROOT / "attn_edu").rglob("*.py")) + [ROOT / "tests" / "test_mechanisms_common.py"]
    return [f for f in files if not any(f == a or a in f.parents for a in ALLOWED)]


def findings_in_source(source: str, where: str) -> list[str]:
    tree = ast.parse(source)
    return [f"{where}:{line}: {what}" for line, what in dispatch(tree, *name_tables([tree]))]


def findings_in_notebook(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    cells = [(i, ast.parse(_without_magics(c.source))) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    tables = name_tables([tree for _, tree in cells])  # a table defined in one cell is read in another
    return [f"{path.relative_to(ROOT)} cell {i} line {line}: {what}"
            for i, tree in cells for line, what in dispatch(tree, *tables)]


@pytest.mark.parametrize("path", package_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_mechanism_name_decides_in_the_package(path):
    found = findings_in_source(path.read_text(), path.relative_to(ROOT).as_posix())
    assert not found, "per-mechanism knowledge outside the registry:\n" + "\n".join(found)


@pytest.mark.parametrize("path", sorted((ROOT / "book").glob("*.ipynb")), ids=lambda p: p.name)
def test_no_mechanism_name_decides_in_the_chapters(path):
    found = findings_in_notebook(path)
    assert not found, "per-mechanism knowledge in the chapter's code (use the registry's fields):\n" + "\n".join(found)


@pytest.mark.parametrize("code", [
    'if name == "se":\n    pass',
    'if name in ("cbam", "bam"):\n    pass',
    'x = 1 if mech.cls is EMSA else 2',
    'x = [n for n in names if n != "danet"]',
    'BOUND = {"se": "floor", "eca": "floor"}\nbound = BOUND[name]',
    'BOUND = dict(se="floor")\nbound = BOUND.get(name, "gemm")',
    'bound = {"se": "floor", "sk": "conv3x3"}[name]',
    'TARGETS = {"se": ("floor", 4.0)}\nif name not in TARGETS:\n    pass',
    'se_like = [n for n in names if n.startswith("se")]',
    'SPATIAL = ("cbam", "bam")\ndef kind(n):\n    return "spatial" if n in SPATIAL else None',
    'SHOWN = {"se"}\nvisible = [k in SHOWN for k in keys]',
    'match name:\n    case "sk":\n        pass',
    'match module:\n    case registry.PSA():\n        pass',
    'ok = isinstance(m, mechanisms.SKAttention)',
    'while name != "psa":\n    pass',
])
def test_the_detector_finds_name_dispatch(code):
    assert findings_in_source(code, "<snippet>"), code


@pytest.mark.parametrize("code", [
    'mech = registry.get("se")',
    'for n in ("self_attention", "danet"):\n    print(records[n])',
    'se, eca = records["se"], records["eca"]',
    'sweep(candidates=[("external_attention", "external_attention", None)])',
    'if mech.kind == "token":\n    pass',
    'if name == "none":\n    pass',
    'pair = {"floor": floor, "se": se}\nt = time_interleaved(pair)\nprint(t["se"], t[key])',
    'LIVE = {"eca": model, "se": se_model}\nm = LIVE[name]',
])
def test_the_detector_lets_uses_pass(code):
    assert not findings_in_source(code, "<snippet>"), code
