"""The package docstring is the map of course_lib: it must list every module (STYLE.md, habit 5)."""
from pathlib import Path

import course_lib


def test_docstring_lists_every_module():
    modules = sorted(p.stem for p in Path(course_lib.__file__).parent.glob("*.py") if p.stem != "__init__")
    missing = [m for m in modules if f"``{m}``" not in course_lib.__doc__]
    assert not missing, f"course_lib/__init__.py's docstring does not list: {', '.join(missing)}"


def _imported_siblings(module: str) -> set[str]:
    """The course_lib modules that course_lib/<module>.py imports (``from . import x``, ``from .x import y``)."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "course_lib" / f"{module}.py").read_text()
    found = set()
    for package, names in re.findall(r"^\s*from \.(\w*) import ([\w, ]+)", text, re.M):
        found |= {package} if package else {n.strip().split(" as ")[0] for n in names.split(",")}
    return found


def test_no_import_circles_between_the_modules_that_had_them():
    """quantize owns the arithmetic, tflite the interpreter (tflite imports quantize, never the reverse);
    mobilenet builds models and checks nothing (03's checkers live in course_lib.exercises)."""
    assert "tflite" not in _imported_siblings("quantize") and "quantize" in _imported_siblings("tflite")
    assert not {"checks", "exercises"} & _imported_siblings("mobilenet")


def test_no_module_imports_a_module_that_imports_it_back():
    """No import cycle of any length among course_lib's modules (imports inside functions included)."""
    modules = sorted(p.stem for p in Path(course_lib.__file__).parent.glob("*.py") if p.stem != "__init__")
    graph = {m: _imported_siblings(m) & set(modules) for m in modules}

    def cycle_from(start, node, path):
        for nxt in sorted(graph[node]):
            if nxt == start:
                return path + [start]
            if nxt not in path and nxt > start:   # each cycle is reported once, from its smallest module
                found = cycle_from(start, nxt, path + [nxt])
                if found:
                    return found
        return None

    cycles = [c for c in (cycle_from(m, m, [m]) for m in modules) if c]
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_exercise_checkers_have_one_home():
    """Every chapter's own checkers are in course_lib.exercises; checks keeps the machinery and generic checkers."""
    import inspect

    from course_lib import checks, exercises

    generic = {"check", "check_int", "check_close", "check_range", "check_array", "check_shape", "check_function"}
    in_checks = {n for n, f in vars(checks).items() if n.startswith("check") and inspect.isfunction(f)
                 and f.__module__ == checks.__name__}
    assert in_checks == generic, f"chapter checkers left in course_lib.checks: {sorted(in_checks - generic)}"
    tagged = [n for n, f in vars(exercises).items() if n.startswith("check_") and inspect.isfunction(f)
              and f.__module__ == exercises.__name__]
    assert len(tagged) >= 15 and all(vars(exercises)[n].__doc__.split(":")[0][:2].isdigit()
                                     or " Ex" in vars(exercises)[n].__doc__.split("\n")[0] for n in tagged)
