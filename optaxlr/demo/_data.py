"""MNIST-1D (Greydanus & Steinbach, 2024), generated offline by the ``mnist1d`` package.

``mnist1d.data.make_dataset`` builds the dataset from its ten templates with a
seeded NumPy generator: no network access (the package's ``get_dataset`` is
the one that downloads, and is never called here). With the package's default
arguments the result is the paper's dataset: 4000 training and 1000 test
signals of length 40, ten classes.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from optaxlr._validation import check_int

__all__ = ["load_mnist1d"]

_CACHE_VERSION = 1


def _generate(seed: int) -> dict[str, np.ndarray]:
    from mnist1d.data import get_dataset_args, make_dataset

    args: Any = get_dataset_args()
    args.seed = seed
    # make_dataset reseeds Python's and NumPy's global generators: restore them after.
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
    try:
        data = make_dataset(args)
    finally:
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)
    return {
        "x_train": np.asarray(data["x"], np.float32),
        "y_train": np.asarray(data["y"], np.int32),
        "x_test": np.asarray(data["x_test"], np.float32),
        "y_test": np.asarray(data["y_test"], np.int32),
    }


def load_mnist1d(seed: int = 42, cache_dir: str | Path | None = None) -> dict[str, np.ndarray]:
    """MNIST-1D as float32 signals and int32 labels, generated on this machine.

    Args:
      seed: the generator's seed; 42 (the package's default) is the published
        dataset.
      cache_dir: where to keep a copy (``mnist1d_seed{seed}.npz``), so the next
        call skips the ~2 s generation; None: no cache.

    Returns:
      ``{"x_train": (4000, 40), "y_train": (4000,), "x_test": (1000, 40),
      "y_test": (1000,)}``.

    Example:
      >>> data = load_mnist1d()
      >>> data["x_train"].shape, data["y_test"][:5]
      ((4000, 40), array([...], dtype=int32))
    """
    seed = check_int("seed", seed, low=0)
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"mnist1d_seed{seed}.npz"
        if path.is_file():
            with np.load(path) as f:
                if int(f["version"]) == _CACHE_VERSION:
                    return {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    data = _generate(seed)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, version=np.asarray(_CACHE_VERSION), **data)  # pyright: ignore[reportArgumentType]
    return data


def describe(data: dict[str, Any]) -> str:
    return (
        f"MNIST-1D: {len(data['y_train'])} train / {len(data['y_test'])} test signals of "
        f"length {data['x_train'].shape[1]}, {len(np.unique(data['y_train']))} classes"
    )
