"""Shared fixtures: the jit / no-jit variants every test of a transform or schedule runs in."""

import jax
import pytest


@pytest.fixture(params=["with_jit", "without_jit"])
def variant(request):
    """chex's two variants as a fixture: ``variant(fn)`` is ``jax.jit(fn)`` or ``fn``."""
    return jax.jit if request.param == "with_jit" else (lambda fn: fn)
