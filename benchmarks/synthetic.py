"""Synthetic data for the benchmarks: clustered unit vectors, like real embeddings.

Real embeddings are not uniform on the sphere: texts about similar things form clusters.
Uniform random vectors make every top-k nearly a tie, which flatters approximate indexes
and hides ranking bugs, so the benchmarks use Gaussian clusters around random centres.
"""

from __future__ import annotations

import numpy as np

__all__ = ["clustered_vectors"]


def clustered_vectors(
    n: int, dims: int, n_clusters: int, seed: int, *, spread: float = 0.6
) -> np.ndarray:
    """``n`` L2-normalised float32 vectors drawn around ``n_clusters`` random centres.

    Args:
        n: Number of vectors.
        dims: Vector length.
        n_clusters: Number of cluster centres (uniform on the unit sphere).
        seed: RNG seed; the same arguments always give the same array.
        spread: Norm of the Gaussian noise relative to the unit-norm centres.

    Returns:
        Array of shape ``(n, dims)``, dtype float32, unit rows.
    """
    if n < 0 or dims <= 0 or n_clusters <= 0:
        raise ValueError("need n >= 0, dims > 0 and n_clusters > 0")
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dims))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = rng.integers(0, n_clusters, size=n)
    out = np.empty((n, dims), dtype=np.float32)
    step = 50_000  # bounded float64 temporaries for large n
    for start in range(0, n, step):
        stop = min(n, start + step)
        noise = rng.standard_normal((stop - start, dims)) * (spread / np.sqrt(dims))
        block = centres[labels[start:stop]] + noise
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:stop] = block
    return out
