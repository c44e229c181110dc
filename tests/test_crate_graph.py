"""The Rust crate graph is the one docs/ARCHITECTURE.md draws: one-way, no cycles, and the
core's domain crates (market, desk, hedging) never depend on each other or on the engine that
owns them — what they share lives below them, in rfq-kernel.

Read from ``cargo metadata`` (the manifests, offline), so a dependency added to any
Cargo.toml is checked, not only the ones a build happens to use.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

DOMAINS = {"rfq-market", "rfq-desk", "rfq-hedge"}
# what each layer may depend on (normal and build dependencies; dev-dependencies are the
# tests' business)
ALLOWED = {
    "rfq-model": set(),
    "rfq-ring": set(),
    "rfq-book": {"rfq-model"},
    "rfq-match": {"rfq-model"},
    "rfq-oms": {"rfq-model"},
    "rfq-journal": {"rfq-ring"},
    "rfq-kernel": {"rfq-model", "rfq-ring", "rfq-book"},
    "rfq-market": {"rfq-kernel", "rfq-model", "rfq-ring", "rfq-book"},
    "rfq-desk": {"rfq-kernel", "rfq-model", "rfq-ring"},
    "rfq-hedge": {"rfq-kernel", "rfq-model", "rfq-ring", "rfq-book", "rfq-oms", "rfq-match"},
    "rfq-engine": {"rfq-kernel", "rfq-market", "rfq-desk", "rfq-hedge", "rfq-journal", "rfq-model",
                   "rfq-ring", "rfq-book"},
    # test support, a dev-dependency only; the engine crates behind its optional `fixtures` feature
    "rfq-testkit": {"rfq-engine", "rfq-journal", "rfq-model", "rfq-ring"},
    "rfq-gateway": {"rfq-ring"},  # beside the engine, never in it: ring records in, ring records out
    "rfq-cluster": {"rfq-engine", "rfq-journal", "rfq-ring", "rfq-testkit"},  # above the engine: replicates its input journal (rfq-testkit: the drill node's load)
    "rfqcore-py": {"rfq-engine", "rfq-journal", "rfq-model", "rfq-ring", "rfq-book", "rfq-match", "rfq-gateway", "rfq-cluster"},
}


def graph() -> dict[str, set[str]]:
    cargo = shutil.which("cargo")
    if cargo is None:
        pytest.fail("cargo is not on PATH: the crate graph cannot be read (install Rust, see the README)")
    out = subprocess.run([cargo, "metadata", "--format-version", "1", "--no-deps", "--offline"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    packages = json.loads(out)["packages"]
    names = {p["name"] for p in packages}
    return {p["name"]: {d["name"] for d in p["dependencies"] if d["name"] in names and d["kind"] != "dev"}
            for p in packages}


def cycle(g: dict[str, set[str]]) -> list[str] | None:
    """A dependency cycle, if there is one."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        path.append(n)
        for d in sorted(g.get(n, ())):
            if state.get(d) == 1:
                return path[path.index(d):] + [d]
            if d not in state and (found := visit(d)):
                return found
        path.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state and (found := visit(n)):
            return found
    return None


def violations(g: dict[str, set[str]]) -> list[str]:
    """Every way `g` departs from the documented graph."""
    found = []
    if set(g) != set(ALLOWED):
        found.append(f"crates changed: {sorted(set(g) ^ set(ALLOWED))} (update ARCHITECTURE.md and this test)")
    for name, deps in sorted(g.items()):
        if extra := deps - ALLOWED.get(name, deps):
            found.append(f"{name} depends on {sorted(extra)}, outside the documented graph")
        if name in DOMAINS | {"rfq-kernel"} and (up := deps & (DOMAINS | {"rfq-engine", "rfqcore-py"})):
            found.append(f"{name} depends on {sorted(up)}: a domain (or the kernel) may not depend on a sibling or the engine")
    if loop := cycle(g):
        found.append("cycle: " + " -> ".join(loop))
    return found


def test_the_crate_graph_is_the_documented_one() -> None:
    assert violations(graph()) == []


def test_the_check_catches_a_sibling_dependency_and_a_cycle() -> None:
    g = graph()
    sibling = violations({**g, "rfq-desk": g["rfq-desk"] | {"rfq-market"}})
    assert any("rfq-desk depends on ['rfq-market']: a domain" in v for v in sibling), sibling
    looped = violations({**g, "rfq-kernel": g["rfq-kernel"] | {"rfq-desk"}})
    assert any(v.startswith("cycle: ") and "rfq-desk" in v and "rfq-kernel" in v for v in looped), looped
    extra = violations({**g, "rfq-book": g["rfq-book"] | {"rfq-ring"}})
    assert extra == ["rfq-book depends on ['rfq-ring'], outside the documented graph"]
