"""Issue 29: a checker cell shows no answer and no call that computes it.

The checker cells are the code cells after a ``### BEGIN SOLUTION`` cell that call ``checks.`` or ``exercises.``.
Each may hold no arithmetic on literals (``3.2 / 9``), no list of four or more numbers (an expected array), no
number that the solution computes from literals (``1000 * 4`` -> 4000), and no call of a course_lib function that
computes an answer (:data:`DENYLIST`); the expected values are computed inside ``course_lib.exercises``.
"""
from __future__ import annotations

import ast
import math
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DENYLIST = {"separable_conv_macs", "standard_conv_macs", "equivalent_kernel", "block_macs", "count_macs",
            "count_params", "layer_table", "inverted_residual_block", "polynomial_sparsity", "magnitude_threshold",
            "crelu", "quantize", "requantize", "quantize_multiplier", "qparams_from_range", "quantize_input",
            "run", "fpd_loss", "pck", "decode", "get_weights", "get_layer", "decide"}
PENDING: dict[str, str] = {}


def checker_cells(path: Path) -> list[tuple[str, str]]:
    """(solution source, checker source) of every exercise of a notebook."""
    cells = nbformat.read(path, as_version=4).cells
    pairs = []
    for i, cell in enumerate(cells):
        if cell.cell_type != "code" or "### BEGIN SOLUTION" not in cell.source:
            continue
        nxt = next((c for c in cells[i + 1:] if c.cell_type == "code"), None)
        if nxt is not None and ("checks." in nxt.source or "exercises." in nxt.source):
            pairs.append((cell.source, nxt.source))
    return pairs


def _literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)


def _constant_value(node: ast.AST) -> float | None:
    """The value of an expression made of numbers and + - * / // ** only, else None."""
    try:
        if _literal(node) or (isinstance(node, (ast.BinOp, ast.UnaryOp)) and
                              all(_literal(n) or isinstance(n, (ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop,
                                                                 ast.expr_context)) for n in ast.walk(node))):
            return float(eval(compile(ast.Expression(node), "<expr>", "eval")))  # noqa: S307 - numbers only
    except (ArithmeticError, TypeError, ValueError):
        return None
    return None


def solution_values(source: str) -> set[float]:
    """Numbers the solution computes from literals (``weight_bytes = 1000 * 4`` -> 4000.0)."""
    if "### BEGIN SOLUTION" not in source:
        return set()
    region = source.split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
    try:
        tree = ast.parse("\n".join(line.strip() for line in region.splitlines()))
    except SyntaxError:
        return set()
    values = {_constant_value(n.value) for n in ast.walk(tree) if isinstance(n, ast.Assign)}
    return {v for v in values if v is not None and abs(v) not in (0.0, 1.0)}


def leaks(solution: str, checker: str) -> list[str]:
    """What in a checker cell shows or computes the answer."""
    tree = ast.parse("\n".join(line for line in checker.splitlines() if not line.startswith(("%", "!"))))
    answers, found = solution_values(solution), []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and _constant_value(node) is not None:
            found.append(f"arithmetic on literals: {ast.unparse(node)}")
        elif isinstance(node, (ast.List, ast.Tuple)) and sum(map(_literal, ast.walk(node))) >= 4:
            found.append(f"a list of numbers: {ast.unparse(node)[:60]}")
        elif _literal(node) and any(math.isclose(float(node.value), a, rel_tol=1e-9) for a in answers):
            found.append(f"the solution's value {node.value!r}")
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in DENYLIST:
                found.append(f"a call that computes the answer: {ast.unparse(func)}(...)")
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "loc":
            found.append(f"a table look-up: {ast.unparse(node)[:60]}")
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_checker_cells_show_no_answer(path, request):
    prefix = path.name[:2]
    if prefix in PENDING:
        request.applymarker(pytest.mark.xfail(reason=PENDING[prefix], strict=False))
    found = {checker.splitlines()[-1][:70]: leak for solution, checker in checker_cells(path)
             if (leak := leaks(solution, checker))}
    assert not found, f"{path.name}: checker cells that show or compute the answer: {found}"


def test_the_scan_catches_the_issues_examples():
    assert leaks("a = None\n### BEGIN SOLUTION\na = 1000 * 4\n### END SOLUTION", "checks.check_int('b', a, 4000)")
    assert leaks("", "checks.check_close('alpha', my_alpha, 3.2 / 9)")
    assert leaks("", "checks.check_array('f', f, np.array([[1, -1, 1], [1, -1, -1], [1, 1, -1]]))")
    assert leaks("", "checks.check_function('m', m, [((3, 32), separable.separable_conv_macs(3, 32))])")
    assert leaks("", "checks.check_int('r', r, pose.block_macs('residual', 16, 32))")
    assert leaks("", "checks.check_int('m', m, table.set_index('layer').loc['conv2', 'MACs'])")
    assert not leaks("a = None\n### BEGIN SOLUTION\na = 1000 * 4\n### END SOLUTION",
                     "# NBVAL_CHECK_OUTPUT\nexercises.check_weight_bytes(a);")
    assert not leaks("", "exercises.check_binary_layer_bytes(b, r, kernel_size=3, c_in=36, c_out=128);")


def test_every_notebook_has_checker_cells():
    assert all(checker_cells(path) for path in NOTEBOOKS if not path.name.startswith("00"))
