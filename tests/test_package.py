"""The package docstring is the map of course_lib: it must list every module (STYLE.md, habit 5)."""
from pathlib import Path

import course_lib


def test_docstring_lists_every_module():
    modules = sorted(p.stem for p in Path(course_lib.__file__).parent.glob("*.py") if p.stem != "__init__")
    missing = [m for m in modules if f"``{m}``" not in course_lib.__doc__]
    assert not missing, f"course_lib/__init__.py's docstring does not list: {', '.join(missing)}"
