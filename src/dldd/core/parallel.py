"""Computing many dask objects a few at a time, on whatever scheduler is active."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator


def n_workers() -> int:
    """Workers of the active ``dask.distributed`` client, else this machine's cores."""
    try:
        from dask.distributed import get_client

        return max(len(get_client().scheduler_info()["workers"]), 1)
    except (ImportError, ValueError):
        return os.cpu_count() or 1


def computed_in_batches(objects: Iterable, per_worker: int = 2) -> Iterator:
    """The computed values of ``objects`` (dask collections or delayed), in their order, computed
    ``per_worker`` x :func:`n_workers` at a time, so that the caller holds only one batch of results."""
    import dask

    objects = list(objects)
    batch = per_worker * n_workers()
    for k in range(0, len(objects), batch):
        yield from dask.compute(*objects[k:k + batch])
