"""The README's Python examples run as written.

Each ```python block of README.md runs in a fresh interpreter, in an empty temporary
folder, with this checkout on ``PYTHONPATH``: a block must make its own imports and its
own data.  A block that cannot run here (it needs a cluster, say) is marked on the line
before it with ``<!-- readme-test: skip (the reason) -->``.
"""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
SKIP_MARK = re.compile(r"<!--\s*readme-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->")


def python_blocks(text):
    """(line number of the opening fence, code, skip reason or None) of each ```python block."""
    lines = text.splitlines()
    blocks = []
    index = 0
    while index < len(lines):
        if lines[index].strip() == "```python":
            start = index
            end = index + 1
            while end < len(lines) and lines[end].strip() != "```":
                end += 1
            if end == len(lines):
                raise ValueError(f"README.md, line {start + 1}: a ```python block is never closed.")
            previous = lines[start - 1] if start else ""
            mark = SKIP_MARK.search(previous)
            blocks.append((start + 1, "\n".join(lines[start + 1:end]) + "\n", mark and mark["reason"]))
            index = end
        index += 1
    return blocks


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_the_parser_finds_blocks_and_skip_marks():
    text = "x\n```python\na = 1\n```\n<!-- readme-test: skip (needs a cluster) -->\n```python\nb\n```\n```\nsh\n```\n"
    assert python_blocks(text) == [(2, "a = 1\n", None), (6, "b\n", "needs a cluster")]
    assert len(BLOCKS) >= 10  # every example of the README, none lost to a fence typo


@pytest.mark.parametrize("line, code, skip", BLOCKS, ids=[f"line{line}" for line, _, _ in BLOCKS])
def test_readme_block_runs(tmp_path, line, code, skip):
    if skip:
        pytest.skip(skip)
    # Dask is optional (the test extras install it): as in tests/test_big_data.py, skip without it.
    for module, used in (("dask", r"(from|import) dask\b"), ("distributed", r"\bdask\.distributed\b")):
        if re.search(used, code) and importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed")
    path = [str(REPO_ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    # Warnings are errors here as in the suite: an example should not warn.
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"README.md, the block at line {line}:\n{result.stderr}"
