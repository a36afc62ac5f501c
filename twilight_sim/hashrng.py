"""Counter-based random numbers: any (seed, stream, key...) cell can be drawn on its own.

The market is generated lazily and in any order (one trading day for all stocks, or one stock
for all days), so draws must not depend on generation order. A splitmix64-style hash of the
integer keys gives that, is vectorised with numpy, and is identical on every platform and numpy
version (unlike ``numpy.random.Generator`` distributions, which may change between releases).
"""

from __future__ import annotations

import zlib

import numpy as np
import numpy.typing as npt

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TWO_M53 = 1.0 / float(1 << 53)

IntLike = int | np.integer | npt.NDArray[np.integer]


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    x = (x ^ (x >> _S30)) * _M1
    x = (x ^ (x >> _S27)) * _M2
    return x ^ (x >> _S31)


def stream_id(name: str) -> int:
    """A stable 32-bit id for a named stream (``hash()`` is salted per process)."""
    return zlib.crc32(name.encode())


class HashRng:
    """Deterministic random fields keyed by integers; ``stream`` names separate the uses."""

    def __init__(self, seed: int) -> None:
        self.seed = int(seed)

    def bits(self, stream: str, *keys: IntLike) -> npt.NDArray[np.uint64]:
        with np.errstate(over="ignore"):
            x = _mix(
                np.asarray(
                    [(self.seed * 1_000_003 + stream_id(stream)) & (2**64 - 1)], dtype=np.uint64
                )
            )
            for key in keys:
                k = np.asarray(key).astype(np.int64).astype(np.uint64)
                x = _mix(x ^ (k * _GOLDEN + np.uint64(0x632BE59BD9B4E019)))
        return x

    def uniform(self, stream: str, *keys: IntLike) -> npt.NDArray[np.float64]:
        """Uniform draws in [0, 1), broadcast over the key arrays."""
        return (self.bits(stream, *keys) >> _S11).astype(np.float64) * _TWO_M53

    def normal(self, stream: str, *keys: IntLike) -> npt.NDArray[np.float64]:
        """Standard normal draws (Box-Muller on two hashed uniforms)."""
        u1 = self.uniform(stream + "#a", *keys)
        u2 = self.uniform(stream + "#b", *keys)
        return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)

    def integers(self, stream: str, low: int, high: int, *keys: IntLike) -> npt.NDArray[np.int64]:
        """Integers in [low, high)."""
        return low + np.floor(self.uniform(stream, *keys) * (high - low)).astype(np.int64)

    def scalar(self, stream: str, *keys: int) -> float:
        """One draw, as a Python float."""
        return float(self.uniform(stream, *keys)[0])
