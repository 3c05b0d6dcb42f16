"""_gym.py: gymnasium's base classes and spaces when gymnasium is installed; otherwise small
stand-ins with the same names and the parts of their behaviour this package relies on, so the
environments work without it:

  Env / VectorEnv   np_random (a numpy Generator seeded exactly as gymnasium seeds one:
                    PCG64 over SeedSequence(seed)), reset(seed=...) seeding it, close(),
                    unwrapped, use as a context manager;
  Discrete, MultiDiscrete, Box
                    n / nvec, low / high, shape, dtype, seed(), sample(), contains().

Without gymnasium there is no registry, no env_checker, no wrappers and no batch_space; the
same seeds still give the same trajectories, because the episode seeds come from the same
generator either way.
"""
import numpy as np

try:
    import gymnasium
    from gymnasium import Env
    from gymnasium.spaces import Box, Discrete, MultiDiscrete
    from gymnasium.vector import VectorEnv
    from gymnasium.vector.utils import batch_space

    HAVE_GYMNASIUM = True
except ImportError:
    gymnasium = None
    HAVE_GYMNASIUM = False

    def _generator(seed):
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))

    class _Space:
        def seed(self, seed=None):
            self._rng = _generator(seed)
            return [seed]

        @property
        def np_random(self):
            if getattr(self, "_rng", None) is None:
                self._rng = _generator(None)
            return self._rng

        def __contains__(self, x):
            return self.contains(x)

    class Discrete(_Space):
        def __init__(self, n, seed=None):
            self.n = int(n)
            self.shape = ()
            self.dtype = np.dtype(np.int64)
            self._rng = _generator(seed) if seed is not None else None

        def sample(self):
            return np.int64(self.np_random.integers(self.n))

        def contains(self, x):
            if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
                return 0 <= int(x) < self.n
            return False

        def __repr__(self):
            return f"Discrete({self.n})"

    class MultiDiscrete(_Space):
        def __init__(self, nvec, dtype=np.int64, seed=None):
            self.nvec = np.asarray(nvec, dtype=np.int64)
            self.shape = self.nvec.shape
            self.dtype = np.dtype(dtype)
            self._rng = _generator(seed) if seed is not None else None

        def sample(self):
            return (self.np_random.random(self.shape) * self.nvec).astype(self.dtype)

        def contains(self, x):
            x = np.asarray(x)
            return (x.shape == self.shape and np.issubdtype(x.dtype, np.integer)
                    and bool(np.all((x >= 0) & (x < self.nvec))))

        def __repr__(self):
            return f"MultiDiscrete({self.nvec})"

    class Box(_Space):
        def __init__(self, low, high, shape=None, dtype=np.float32, seed=None):
            self.dtype = np.dtype(dtype)
            shape = np.shape(low) if shape is None else tuple(shape)
            self.shape = shape
            self.low = np.broadcast_to(np.asarray(low, dtype=self.dtype), shape).copy()
            self.high = np.broadcast_to(np.asarray(high, dtype=self.dtype), shape).copy()
            self._rng = _generator(seed) if seed is not None else None

        def sample(self):
            if np.issubdtype(self.dtype, np.integer):
                draw = self.np_random.integers(self.low, self.high, endpoint=True)
                return draw.astype(self.dtype)
            return self.np_random.uniform(self.low, self.high).astype(self.dtype)

        def contains(self, x):
            x = np.asarray(x)
            return (x.shape == self.shape and x.dtype == self.dtype
                    and bool(np.all((x >= self.low) & (x <= self.high))))

        def __repr__(self):
            return f"Box({self.low.min()}, {self.high.max()}, {self.shape}, {self.dtype})"

    def batch_space(space, n):
        if isinstance(space, Discrete):
            return MultiDiscrete(np.full(n, space.n), dtype=space.dtype)
        return Box(np.stack([space.low] * n), np.stack([space.high] * n), dtype=space.dtype)

    class _Seeded:
        metadata = {}
        render_mode = None
        spec = None
        _np_random = None

        @property
        def np_random(self):
            if self._np_random is None:
                self._np_random = _generator(None)
            return self._np_random

        def reset(self, *, seed=None, options=None):
            if seed is not None:
                self._np_random = _generator(seed)

        def close(self):
            pass

        @property
        def unwrapped(self):
            return self

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.close()
            return False

    class Env(_Seeded):
        pass

    class VectorEnv(_Seeded):
        pass
