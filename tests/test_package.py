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
    mobilenet builds models and checks nothing (03's budget checker lives in course_lib.exercises)."""
    assert "tflite" not in _imported_siblings("quantize") and "quantize" in _imported_siblings("tflite")
    assert not {"checks", "exercises"} & _imported_siblings("mobilenet")
    assert "mobilenet" not in _imported_siblings("exercises")
