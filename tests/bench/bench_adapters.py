"""usersim.sb3 (the C vector env as a stable-baselines3 VecEnv) against what an SB3 user
writes without it, SB3's DummyVecEnv over single usersim.make() envs: env steps per second
with random actions, the same store, options and number of envs, in the same run. Each side
is timed over the same number of steps after a warm-up, the best of a few repeats (the machine
may be shared); the ratio is the figure to watch (the adapter aims at 10x or more). Also
usersim.make_vec alone (no SB3 layer: what the simulator's C step costs, the floor of both)
and the adapter with the C vector env on several threads (BENCH_ADAPTER_THREADS, default the
CPUs this process may use, at most the number of envs), which DummyVecEnv has no counterpart
for.

Run by `make bench` with the Python of build/rlenv. Environment: USERSIM_BIN (the command),
BENCH_STORE (a store; default build/demo/synthetic.usdb, built like `make demo` with the
hashed embedder when missing), BENCH_ADAPTER_ENVS (16), BENCH_ADAPTER_STEPS (env steps per
timing, 40000), BENCH_REPEATS (3), BENCH_ADAPTER_THREADS.
"""
import os
import sys
import tempfile
import time

import numpy as np

import usersim
import usersim.sb3
from stable_baselines3.common.vec_env import DummyVecEnv

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_agents import store_path  # noqa: E402  (the same store as the agents' bench)

N = int(os.environ.get("BENCH_ADAPTER_ENVS", "16"))
STEPS = int(os.environ.get("BENCH_ADAPTER_STEPS", "40000"))
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
THREADS = int(os.environ.get("BENCH_ADAPTER_THREADS") or min(N, len(os.sched_getaffinity(0))))
OPTS = dict(max_steps=50)


class GymVec:
    """usersim.make_vec behind the two calls steps_per_second makes."""

    def __init__(self, venv):
        self.venv = venv

    def seed(self, s):
        self.s = s

    def reset(self):
        return self.venv.reset(seed=self.s)

    def step(self, a):
        return self.venv.step(a)


def steps_per_second(venv, n_items):
    """Env steps per second of venv (an SB3 VecEnv) under random actions: the best of
    REPEATS timings of STEPS // N calls of step(), after STEPS // (10 N) calls of warm-up."""
    rng = np.random.default_rng(0)
    calls = max(1, STEPS // N)
    actions = rng.integers(0, n_items, size=(calls, N))
    venv.seed(1)
    venv.reset()
    for a in actions[: max(1, calls // 10)]:
        venv.step(a)
    best = 0.0
    for _ in range(REPEATS):
        t = time.perf_counter()
        for a in actions:
            venv.step(a)
        best = max(best, calls * N / (time.perf_counter() - t))
    return best


def main():
    with tempfile.TemporaryDirectory(prefix="bench-adapters-") as work:
        store = store_path(work)
        adapter = usersim.sb3.make_vec_env(store, N, **OPTS)
        n_items = adapter.get_attr("n_items")[0]
        dummy = DummyVecEnv([lambda: usersim.make(store, **OPTS) for _ in range(N)])
        print(f"bench_adapters: {store}, {N} envs, max_steps {OPTS['max_steps']}, "
              f"{STEPS:,} env steps per timing, best of {REPEATS}, random actions")
        fast = steps_per_second(adapter, n_items)
        slow = steps_per_second(dummy, n_items)
        raw = usersim.make_vec(store, N, **OPTS)
        floor = steps_per_second(GymVec(raw), n_items)
        raw.close()
        threaded = usersim.sb3.make_vec_env(store, N, threads=THREADS, **OPTS)
        many = steps_per_second(threaded, n_items)
        threaded.close()
        print(f"  usersim.sb3.make_vec_env          {fast:12,.0f} env steps/s")
        print(f"  DummyVecEnv over usersim.make()   {slow:12,.0f} env steps/s")
        print(f"  ratio {fast / slow:.1f}x (target 10x)")
        print(f"  usersim.make_vec alone            {floor:12,.0f} env steps/s (the C step: "
              f"{1e6 / floor:.0f} us per env step; the SB3 layer adds "
              f"{max(0.0, 1e6 / fast - 1e6 / floor):.1f})")
        print(f"  usersim.sb3 on {THREADS:2d} threads          {many:12,.0f} env steps/s, "
              f"{many / slow:.1f}x DummyVecEnv")
        adapter.close()
        dummy.close()


if __name__ == "__main__":
    main()
