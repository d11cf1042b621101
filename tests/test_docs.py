"""Every Python code block of ``README.md`` and ``docs/*.md`` runs.

The blocks of one page run in order in one namespace, as a reader pasting them into one
session would run them: a page imports once and later blocks use those imports.

A page's prose sometimes assumes what a snippet does not define: the reader's own model,
loss and data (``params``, ``loss_fn``, ``batches``, ...). ``CONTEXT`` gives each page
those names, built small so the page runs in seconds. It defines only the reader's
objects: modules, and anything else the page should import or build itself, stay
undefined, so a block that forgets an import fails here as it would for a reader.

A block that cannot run (it needs 8 devices, writes outside the working directory, ...)
is marked in the page, on the line just before its fence, with the reason::

    <!-- not-run: needs 8 devices -->
    ```python
    ...
    ```

Every fenced block must name its language, so a Python block cannot hide untagged.
"""

from __future__ import annotations

import re
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)(?P<info>[^\n`]*)$")
_NOT_RUN = re.compile(r"^\s*<!--\s*not-run:\s*(?P<reason>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository root
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    not_run: str | None  # the reason, when the page marks the block as not runnable

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def parse_blocks(text: str, page: str) -> list[Block]:
    """The fenced code blocks of a Markdown text, indented ones (in lists) included."""
    lines = text.splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = opening["info"].strip().split(" ")[0] if opening["info"].strip() else ""
        marker = _NOT_RUN.match(lines[i - 1]) if i > 0 else None
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not (
            lines[j].startswith(indent) and lines[j].strip() == fence
        ):
            body.append(lines[j])
            j += 1
        if j == len(lines):
            raise AssertionError(f"{page}:{i + 1}: a code fence that is never closed")
        code = textwrap.dedent("\n".join(body)) + "\n"
        found.append(Block(page, i + 1, language, code, marker["reason"] if marker else None))
        i = j + 1
    return found


def blocks(path: Path) -> list[Block]:
    return parse_blocks(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())


# What each page assumes the reader already has. Private names (leading underscore) are the
# context's own helpers; only the page's names are meant for the blocks.
_DATA = """
import jax as _jax
import jax.numpy as _jnp
import numpy as _np

_rng = _np.random.default_rng(0)

def _batch(n=8):
    x = _jnp.asarray(_rng.normal(size=(n, 3)), _jnp.float32)
    return x, x @ _jnp.ones((3, 2), _jnp.float32)

params = {
    "backbone": {"w": _jnp.full((3, 2), 0.1, _jnp.float32)},
    "head": {"b": _jnp.zeros(2, _jnp.float32)},
}

def _predict(params, x):
    if callable(params):  # a Flax nnx model
        return params(x)
    return x @ params["backbone"]["w"] + params["head"]["b"]

def loss_fn(params, batch):
    x, y = batch
    return _jnp.mean((_predict(params, x) - y) ** 2)

grad_fn = _jax.grad(loss_fn)
batches = [_batch() for _ in range(8)]
epochs = 2
"""

_NNX_MODEL = """
from flax import nnx as _nnx

model = _nnx.Linear(3, 2, rngs=_nnx.Rngs(0))
"""

CONTEXT: dict[str, str] = {
    "docs/optimizers.md": _DATA
    + _NNX_MODEL
    + """
import optaxlr as _optaxlr

opt_state = _optaxlr.adam(1e-3).init(params)
total_steps = 100

def loss_fn(params, x, y):  # the nnx training step's: merges the page's `graphdef`
    return _jnp.mean((_nnx.merge(graphdef, params)(x) - y) ** 2)

# The training step scans over the minibatches of an epoch: stacked along axis 0.
batches = tuple(_jnp.stack(a) for a in zip(*batches, strict=True))
""",
    "docs/performance.md": _DATA + _NNX_MODEL,
    "docs/schedules.md": _DATA + "train_loader = [_batch() for _ in range(390)]\n",
    "docs/training.md": _DATA
    + """
def evaluate(params):
    return loss_fn(params, batches[0])
""",
    "docs/tutorial.md": _DATA
    + """
steps = 300

def test_accuracy(params):
    return -loss_fn(params, batches[0])
""",
}


def _page_id(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_code_blocks_run(path: Path, tmp_path, monkeypatch):
    """The page's Python blocks run in order; every failure is reported, not just the first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # blocks may write files (plots, checkpoints)
    page = _page_id(path)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    if page in CONTEXT:
        exec(compile(CONTEXT[page], f"<context of {page}>", "exec"), namespace)
    failures: list[str] = []
    ran = 0
    try:
        for block in blocks(path):
            if block.language != "python" or block.not_run is not None:
                continue
            try:
                exec(compile(block.code, block.where, "exec"), namespace)
                ran += 1
            except Exception:
                failures.append(f"{block.where}\n{traceback.format_exc(limit=-3)}")
    finally:
        plt.close("all")
    assert not failures, f"{len(failures)} code block(s) of {page} fail:\n\n" + "\n".join(
        failures
    )
    runnable = [b for b in blocks(path) if b.language == "python" and b.not_run is None]
    assert ran == len(runnable), f"{page}: ran {ran} of its {len(runnable)} Python blocks"
    assert ran > 0, f"{page}: no Python block ran (every block is marked not-run, or none is)"


#: The languages a block may be tagged with. Only ``python`` runs, so a Python block
#: tagged ``py`` or ``Python`` would be skipped silently: those tags fail here.
LANGUAGES = {"python", "bash", "sh", "text"}


@pytest.mark.parametrize("path", PAGES, ids=_page_id)
def test_code_blocks_are_tagged_and_not_run_markers_give_a_reason(path: Path):
    for block in blocks(path):
        assert block.language, f"{block.where}: a code block without a language"
        assert block.language in LANGUAGES, f"{block.where}: unknown language {block.language}"
        if block.not_run is not None:
            assert block.language == "python", f"{block.where}: not-run marks a Python block"
            assert len(block.not_run) >= 10, f"{block.where}: not-run needs a reason"


def test_context_names_only_pages_with_python_blocks():
    pages = {_page_id(p) for p in PAGES}
    for page in CONTEXT:
        assert page in pages, f"CONTEXT names {page}, which is not a docs page"
        assert any(b.language == "python" for b in blocks(ROOT / page)), page


def test_block_parser():
    text = (
        "intro\n"
        "```python\nx = 1\n```\n"
        "- item\n\n"
        "  <!-- not-run: needs 8 devices to run -->\n"
        "  ```python\n  y = 2\n  ```\n"
        "```bash\nls\n```\n"
    )
    found = parse_blocks(text, "example.md")
    assert [(b.line, b.language, b.code, b.not_run) for b in found] == [
        (2, "python", "x = 1\n", None),
        (8, "python", "y = 2\n", "needs 8 devices to run"),
        (11, "bash", "ls\n", None),
    ]
