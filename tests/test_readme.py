"""The README's ```python blocks run, in order, in one namespace (as a reader would paste
them); a block right after ``<!-- skip-test -->`` needs Keras or ``mpiexec`` and is
skipped."""
import pathlib
import re

import minidl as mdl

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- skip-test -->[ \t]*\n)?```python\n(.*?)^```", re.S | re.M)


def blocks():
    """``(line, skipped, code)`` of each python block."""
    text = README.read_text()
    return [(text.count("\n", 0, m.start(2)) + 1, bool(m.group(1)), m.group(2))
            for m in BLOCK.finditer(text)]


def test_readme_has_runnable_blocks():
    found = blocks()
    assert sum(not skipped for _, skipped, _ in found) >= 3
    assert sum(skipped for _, skipped, _ in found) <= 3


def test_readme_python_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # files the snippets save land here
    namespace = {"__name__": "readme"}
    with mdl.use_backend("numpy"):
        for line, skipped, code in blocks():
            if not skipped:
                exec(compile(code, f"README.md, the block at line {line}", "exec"),
                     namespace)
    assert "model" in namespace
