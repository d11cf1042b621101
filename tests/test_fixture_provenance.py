"""Every committed reference fixture says which peer (and version) and which script made it.

A fixture is only as good as its provenance: each file in tests/fixtures must
be listed here with the script in scripts/ that writes it and the peer
libraries it records. The file must name that script and record each peer's
version; the script must exist, write that very file, and never import
optaxlr (the numbers must come from the peers alone).

"Never imports optaxlr" is checked on what the script does, not on its text: each
generator is imported in a subprocess where optaxlr cannot be imported and any attempt
is recorded (so a helper it imports, such as ``scripts/_torch_fixture.py``, counts),
and every local module it reaches is searched for imports inside functions too.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

#: fixture file -> (generating script, peers whose versions it must record)
PROVENANCE = {
    "schedules.json": ("scripts/generate_schedule_fixtures.py", ("torch", "keras", "optax")),
    "schedules_timm_hf.json": (
        "scripts/generate_timm_schedule_fixtures.py",
        ("torch", "timm", "transformers"),
    ),
    "plateau.json": ("scripts/generate_plateau_fixtures.py", ("torch", "keras")),
    "optimizers.npz": ("scripts/generate_optimizer_fixtures.py", ("torch",)),
    "optimizer_dtypes.npz": ("scripts/generate_dtype_fixtures.py", ("torch",)),
    "optimizers_2026.npz": (
        "scripts/generate_new_optimizer_fixtures.py",
        ("torch", "lion_pytorch"),
    ),
    "layerwise.json": ("scripts/generate_layerwise_fixtures.py", ("torch", "timm", "mup")),
    "mup_adamw.npz": ("scripts/generate_layerwise_fixtures.py", ("torch", "timm", "mup")),
    "optimizers_rprop_asgd.npz": ("scripts/generate_rprop_asgd_fixtures.py", ("torch",)),
    "lamb_lars.npz": ("scripts/generate_lamb_lars_fixtures.py", ("torch", "pytorch_optimizer")),
    "optimizers_adafactor.npz": ("scripts/generate_adafactor_fixtures.py", ("torch",)),
    "schedule_free.npz": (
        "scripts/generate_schedule_free_fixtures.py",
        ("torch", "schedulefree"),
    ),
    "batch_warmup.npz": ("scripts/generate_batch_warmup_fixtures.py", ("torch",)),
    "optimizers_muon.npz": ("scripts/generate_muon_fixtures.py", ("torch",)),
    "lr_free.npz": (
        "scripts/generate_lr_free_fixtures.py",
        ("torch", "prodigyopt", "dadaptation"),
    ),
    "schedule_float64.npz": ("scripts/generate_x64_schedule_fixtures.py", ("torch",)),
    "torch_signatures.json": ("scripts/generate_torch_signatures.py", ("torch",)),
    "torch_maximize.npz": ("scripts/generate_torch_signatures.py", ("torch",)),
}


def _metadata(name: str) -> dict:
    """The fixture's own record of where it came from."""
    path = FIXTURES / name
    if path.suffix == ".json":
        data = json.loads(path.read_text())
        return {"generated_by": data.get("generated_by"), "versions": data.get("versions", {})}
    with np.load(path, allow_pickle=False) as arrays:
        manifest = json.loads(str(arrays["manifest"]))
    versions = dict(manifest.get("versions", {}))
    if "torch_version" in manifest:
        versions.setdefault("torch", manifest["torch_version"])
    script = manifest.get("generated_by")
    return {"generated_by": script, "versions": versions}


def test_every_fixture_file_is_listed():
    present = {p.name for p in FIXTURES.iterdir() if p.is_file()}
    assert present == set(PROVENANCE), "list a new fixture (and its script) in PROVENANCE"


@pytest.mark.parametrize("name", sorted(PROVENANCE))
def test_the_script_exists_writes_the_fixture_and_uses_only_peers(name):
    script, peers = PROVENANCE[name]
    text = (ROOT / script).read_text()
    assert name in text, f"{script} does not write tests/fixtures/{name}"
    for peer in peers:
        assert re.search(rf"^\s*(import|from)\s+{peer}\b", text, re.M), (script, peer)


@pytest.mark.parametrize("name", sorted(PROVENANCE))
def test_the_fixture_records_each_peer_version(name):
    _, peers = PROVENANCE[name]
    versions = _metadata(name)["versions"]
    for peer in peers:
        version = versions.get(peer)
        assert isinstance(version, str) and re.match(r"\d+\.\d+", version), (name, peer, version)


@pytest.mark.parametrize("name", sorted(PROVENANCE))
def test_the_fixture_names_its_script(name):
    script, _ = PROVENANCE[name]
    recorded = _metadata(name)["generated_by"]
    assert recorded == script


#: Every peer a generator may import (stubbed where this environment lacks it).
_PEERS = {"torch", "keras", "tensorflow", "fastai", "transformers"} | {
    peer for _, peers in PROVENANCE.values() for peer in peers
}

SCRIPTS = ROOT / "scripts"
GENERATORS = sorted(SCRIPTS.glob("generate_*.py"))

#: Imported in a subprocess with optaxlr blocked. The peers the project's environment
#: lacks (torch, keras, ...) are stand-ins that accept anything: only the script's own
#: imports are under test, not the peers'.
_IMPORT_BLOCKED = """
import importlib.abc, importlib.machinery, importlib.util, json, sys, types

attempts = []

class BlockOptaxlr(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "optaxlr":
            attempts.append(name)
            raise ImportError(f"{name} is blocked")
        return None

class Anything:
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()
    def __call__(self, *args, **kwargs):
        return Anything()
    def __getitem__(self, key):
        return Anything()

class Stub(types.ModuleType):
    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return Anything()

class StubLoader(importlib.abc.Loader):
    def create_module(self, spec):
        return Stub(spec.name)
    def exec_module(self, module):
        module.__path__ = []

class StubAbsentPeers(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in PEERS:
            return importlib.machinery.ModuleSpec(name, StubLoader(), is_package=True)
        return None

PEERS = set(json.loads(sys.argv[2]))
sys.meta_path.insert(0, BlockOptaxlr())
sys.meta_path.append(StubAbsentPeers())  # only what the real finders don't find
path = sys.argv[1]
sys.path.insert(0, str(__import__("pathlib").Path(path).parent))
spec = importlib.util.spec_from_file_location("generator_under_test", path)
module = importlib.util.module_from_spec(spec)
try:
    spec.loader.exec_module(module)
except ImportError:
    if not attempts:  # a failure of its own, not the blocked import
        raise
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "optaxlr")
print(json.dumps({"attempts": attempts, "loaded": loaded}))
"""


def _imports_when_loaded(script: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_BLOCKED, str(script), json.dumps(sorted(_PEERS))],
        capture_output=True, text=True, timeout=120, cwd=script.parent,
    )
    assert done.returncode == 0, f"{script.name} does not import:\n{done.stderr}"
    return json.loads(done.stdout.splitlines()[-1])


def _imported_names(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (functions too), by statement or by
    ``importlib.import_module("...")`` / ``__import__("...")`` with a literal name."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ast.unparse(node.func) in {"importlib.import_module", "__import__"}):
            names.add(node.args[0].value)
    return names


def _reached_modules(script: Path) -> dict[Path, set[str]]:
    """The script and every module of its own folder it imports, transitively."""
    found: dict[Path, set[str]] = {}
    todo = [script]
    while todo:
        path = todo.pop()
        if path in found:
            continue
        found[path] = _imported_names(path)
        todo += [script.parent / f"{n.split('.')[0]}.py" for n in found[path]
                 if (script.parent / f"{n.split('.')[0]}.py").exists()]
    return found


def _imports_optaxlr(script: Path) -> list[str]:
    """Where the script imports optaxlr: at load time, or anywhere in its own modules."""
    loaded = _imports_when_loaded(script)
    where = [f"on import: {name}" for name in loaded["attempts"] + loaded["loaded"]]
    for path, names in _reached_modules(script).items():
        where += [f"{path.name}: {n}" for n in sorted(names) if n.split(".")[0] == "optaxlr"]
    return where


def test_the_generators_include_every_fixture_script():
    assert {ROOT / script for script, _ in PROVENANCE.values()} <= set(GENERATORS)


@pytest.mark.parametrize("script", GENERATORS, ids=lambda p: p.name)
def test_the_generator_never_imports_optaxlr(script):
    assert _imports_optaxlr(script) == []
    assert len(_reached_modules(script)) >= 1


def test_the_torch_generators_reach_their_helper():
    """The helper two generators share is among what the checks above cover."""
    for name in ("generate_optimizer_fixtures.py", "generate_dtype_fixtures.py"):
        assert SCRIPTS / "_torch_fixture.py" in _reached_modules(SCRIPTS / name)


@pytest.mark.parametrize(
    "helper",
    [
        "import numpy\nimport optaxlr.schedules\n",  # at import time, in the helper
        "def f():\n    from optaxlr import adamw\n",  # only when a function runs
        "import importlib\ndef f():\n    return importlib.import_module('optaxlr')\n",
    ],
    ids=["top-level", "in-a-function", "import_module"],
)
def test_an_import_of_optaxlr_in_a_helper_is_caught(tmp_path, helper):
    (tmp_path / "_helper.py").write_text(helper)
    script = tmp_path / "generate_example.py"
    script.write_text("from _helper import *  # noqa\nimport torch\nX = torch.float64\n")
    assert _imports_optaxlr(script) != []
