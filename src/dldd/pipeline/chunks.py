"""The chunk plan: (y, x) chunk edges for an input from the length of its time axis and a worker's memory.

See docs/scaling.md for the rule and its constants.
"""

from __future__ import annotations

import numpy as np

from dldd.errors import InputError

#: Memory a dask worker (one thread) may use, bytes, when neither ``DLDD_WORKER_MEMORY`` nor the caller
#: says: what a core of a typical cluster node has. Deliberately not read from the machine, so that the
#: same spec is cut into the same chunks on a laptop and on a cluster (see docs/scaling.md).
DEFAULT_WORKER_MEMORY = 2 * 1024**3
#: Share of a worker's memory one chunk's kernel may take (dask also holds the chunks in flight,
#: results waiting to be written, and its own bookkeeping).
CHUNK_MEMORY_FRACTION = 0.5
#: float64 copies of a chunk's time series a kernel holds at once (input, sorted/ranked working copies,
#: outputs): the Mann-Kendall/Theil-Sen and SPI/SPEI kernels need about this many.
TIME_SERIES_COPIES = 8
#: Chunk edges are multiples (>= 256) or divisors (64, 128) of the zonal tile, within these bounds.
MIN_CHUNK = 64
MAX_CHUNK = 4096


def worker_memory() -> int:
    """Bytes per worker for chunk planning: ``DLDD_WORKER_MEMORY`` (e.g. ``4GB``, ``512MiB``) or the default."""
    import os

    raw = os.environ.get("DLDD_WORKER_MEMORY")
    if not raw:
        return DEFAULT_WORKER_MEMORY
    from dask.utils import parse_bytes

    try:
        return int(parse_bytes(raw))
    except (ValueError, TypeError):
        raise InputError(f"DLDD_WORKER_MEMORY: {raw!r} is not a memory size (e.g. 4GB, 512MiB)") from None


def plan_chunks(n_times: int, memory_bytes: int, *, copies: int = TIME_SERIES_COPIES,
                fraction: float = CHUNK_MEMORY_FRACTION) -> tuple[int, int]:
    """(y, x) chunk edges for a cube of ``n_times`` layers whose kernels need whole time series per chunk.

    ``edge = sqrt(fraction x memory / (n_times x 8 bytes x copies))``, rounded down to a multiple of the
    zonal tile (256) when at least one tile, else to 128 or 64, and kept within [MIN_CHUNK, MAX_CHUNK].
    Examples at 2 GiB: 24 annual layers -> 768, 40 -> 512, 516 monthly layers -> 128.
    """
    from dldd.stats.zonal import ZONAL_TILE

    if n_times < 1 or memory_bytes <= 0:
        raise InputError(f"plan_chunks: n_times={n_times}, memory_bytes={memory_bytes}; both must be positive")
    edge = int(np.sqrt(fraction * memory_bytes / (n_times * 8 * copies)))
    if edge >= ZONAL_TILE:
        edge = edge // ZONAL_TILE * ZONAL_TILE
    else:
        edge = max((e for e in (ZONAL_TILE // 2, ZONAL_TILE // 4) if e <= edge), default=MIN_CHUNK)
    edge = int(min(max(edge, MIN_CHUNK), MAX_CHUNK))
    return edge, edge
