"""Every committed reference fixture says which peer (and version) and which script made it.

A fixture is only as good as its provenance: each file in tests/fixtures must
be listed here with the script in scripts/ that writes it and the peer
libraries it records. The file must name that script and record each peer's
version; the script must exist, write that very file, and never import
optaxlr (the numbers must come from the peers alone).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"

#: fixture file -> (generating script, peers whose versions it must record)
PROVENANCE = {
    "schedules.json": ("scripts/generate_schedule_fixtures.py", ("torch", "keras", "optax")),
    "plateau.json": ("scripts/generate_plateau_fixtures.py", ("torch", "keras")),
    "optimizers.npz": ("scripts/generate_optimizer_fixtures.py", ("torch",)),
    "optimizer_dtypes.npz": ("scripts/generate_dtype_fixtures.py", ("torch",)),
    "schedule_float64.npz": ("scripts/generate_x64_schedule_fixtures.py", ("torch",)),
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
    assert not re.search(r"^\s*(import|from)\s+optaxlr\b", text, re.M), script
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
