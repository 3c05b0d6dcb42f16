"""vector.py: UserSimVectorEnv, n simulated users stepped by one C call (us_vecenv_step over
threads) behind gymnasium's VectorEnv API.

step() hands the addresses of whole numpy arrays to the C library, which writes every env's
observation, reward and end flags in place; the Python side does a handful of numpy operations
per call (a range check of the actions, a copy of each output) and nothing per env.

Autoreset is the C library's same-step autoreset (gymnasium's AutoresetMode.SAME_STEP): an env
whose episode ended returns the reward and flags of its last step with the FIRST observation of
its next episode; the observation it ended on is in info["final_obs"] (rows where
info["_final_obs"] is True).
"""
import ctypes

import numpy as np

from . import _gym, _lib, _sim
from .env import features_size_or_raise, features_space_bounds, is_int, observation_bounds


def _reconstruct_final(prev, actions, rewards):
    """The observations the ended episodes stopped at, rebuilt from what the C library gives:
    each row of prev (the observation before the step) with its pairs shifted one to the left
    and (action, reaction) appended, the reaction being the reward (1 like, 0 dislike or
    repeat). Exact, because that is how us_env_step writes the observation."""
    final = prev.copy()
    if prev.shape[1] > 1:
        final[:, 1:-2] = prev[:, 3:]
        final[:, -2] = actions
        final[:, -1] = rewards.astype(np.int32)
    return final


def _reconstruct_final_features(prev, actions, rewards, vectors, obs_len):
    """The same for the feature observation (env/env.h): the pairs of prev (rows of D user
    stub floats, then obs_len pairs of D + 1) shifted one pair to the left and (the action's
    vector, +1 like / -1 not) appended; the stub stays."""
    final = prev.copy()
    if obs_len > 0:
        D = vectors.shape[1]
        final[:, D:-(D + 1)] = prev[:, 2 * D + 1:]
        final[:, -(D + 1):-1] = vectors[actions]
        final[:, -1] = np.where(rewards > 0, 1.0, -1.0)
    return final


class UserSimVectorEnv(_lib.OwnsHandle, _gym.VectorEnv):
    """num_envs simulated users stepped together (env/env.h, us_vecenv).

    UserSimVectorEnv(store, num_envs, threads=1, seed=0, eval_order=False, **options);
    usersim.make_vec(store, n, ...) is the same. Options as for usersim.make. num_envs is
    limited by memory: each env takes about us_env_bytes_estimate bytes (env/env.h; about
    257 KiB with max_steps 50) and a vector env at most 8 GiB, so about 32 000 envs with the
    defaults; a larger request raises ValueError with the estimate. threads is 1..1024.

    Seeds: env i's k-th episode is seeded with usersim.episode_seed(seed, i, k) and starts with
    a random user (with eval_order, users i, i + n, i + 2n, ... in turn), so the outputs do not
    depend on threads. reset(seed=s) starts over with seed s (s must be one int: the per-env
    seeds are derived from it); reset() without a seed starts every env's next episode.

    step(actions) takes integer item ids of shape (num_envs,) and returns obs (num_envs,
    1 + 2*obs_len) int32 (with observation="features", (num_envs, D + obs_len*(D + 1))
    float32, written by us_vecenv_features over the same threads: see usersim.make), rewards
    (num_envs,) float32, terminations and truncations (num_envs,) bool, and infos with "user" (each env's user after the call, int32) and, when some episode
    ended, "final_obs" (num_envs, obs size) of the observation's dtype with the mask
    "_final_obs". Every call returns new arrays. Per-step reactions (votes, keywords) are the
    single env's business. item_features() is UserSimEnv.item_features().
    """

    metadata = {"render_modes": []}
    if _gym.HAVE_GYMNASIUM and hasattr(_gym.gymnasium.vector, "AutoresetMode"):
        metadata["autoreset_mode"] = _gym.gymnasium.vector.AutoresetMode.SAME_STEP

    def __init__(self, store, num_envs, threads=1, seed=0, eval_order=False, **options):
        self._vec = None
        self._sim = None
        self._vectors = None
        self.closed = False
        # Checked here in full: ctypes would cut a Python int down to a C int without a word.
        for name, v, lo in (("num_envs", num_envs, 1), ("threads", threads, 1), ("seed", seed, 0)):
            if not is_int(v) or v < lo:
                raise ValueError(f"usersim: {name} must be an integer >= {lo}, found {v!r}")
        if seed >= 2**64:
            raise ValueError(f"usersim: seed must be below 2**64, found {seed!r}")
        if threads > _lib.US_VECENV_MAX_THREADS:
            raise ValueError(f"usersim: threads must be 1..{_lib.US_VECENV_MAX_THREADS}, "
                             f"found {threads!r}")
        sim_options, env_options = _sim.split_options(options)
        lib = _lib.load()
        self._lib = lib
        self.config = _sim.env_config(lib, env_options)
        self.observation = _sim.observation_kind(env_options)
        # The C library's memory limit (env.h), checked before the store is opened.
        each = lib.us_env_bytes_estimate(ctypes.byref(self.config))
        limit = _lib.US_VECENV_MAX_BYTES // each
        if num_envs > limit:
            raise ValueError(
                f"usersim: num_envs must be 1..{limit} (each env takes about {each:,} bytes "
                f"with max_steps {self.config.max_steps}, and a vector env at most "
                f"{_lib.US_VECENV_MAX_BYTES:,}), found {int(num_envs)}: about "
                f"{int(num_envs) * each:,} bytes")
        self.num_envs = int(num_envs)
        self.threads = int(threads)
        self.eval_order = bool(eval_order)
        self.render_mode = None
        self._sim = _sim.acquire(store, sim_options)
        self.store = self._sim.path
        self.thresholds = self._sim.thresholds
        self.n_users = self._sim.n_users
        self.n_items = self._sim.n_items
        self.obs_size = 1 + 2 * self.config.obs_len
        self._open(int(seed))
        self._started = False
        # The C library writes into these; step() returns copies. Their addresses are taken
        # once (reading an array's address through numpy costs microseconds per array). The
        # observation buffer alternates between two, so the one before the step stays intact
        # for rebuilding final observations.
        n = self.num_envs
        self._obs = [np.full((n, self.obs_size), -1, dtype=np.int32) for _ in range(2)]
        self._cur = 0
        self._actions = np.zeros(n, dtype=np.int32)
        self._actions_u32 = self._actions.view(np.uint32)
        self._rewards = np.zeros(n, dtype=np.float32)
        self._terminated = np.zeros(n, dtype=np.uint8)
        self._truncated = np.zeros(n, dtype=np.uint8)
        self._users = np.zeros(n, dtype=np.int32)
        self._addr = [b.ctypes.data for b in self._obs]
        self._step_args = tuple(b.ctypes.data for b in (self._actions, self._rewards,
                                                          self._terminated, self._truncated,
                                                          self._users))
        self.single_action_space = _gym.Discrete(self.n_items)
        self._feat = None
        if self.observation == "features":
            try:
                size = features_size_or_raise(
                    self._lib, self._lib.us_vecenv_features_size(self._vec), self.store)
            except ValueError:
                self.close()
                raise
            # two buffers, alternating like the int32 ones; the item vectors (a view of the
            # simulator's memory) rebuild final observations
            self._feat = [np.zeros((n, size), dtype=np.float32) for _ in range(2)]
            self._feat_addr = [b.ctypes.data for b in self._feat]
            self._vectors = self._sim.item_vectors()[0]
            self.single_observation_space = _gym.Box(*features_space_bounds(size),
                                                     dtype=np.float32)
        else:
            low, high = observation_bounds(self.n_users, self.n_items, self.config.obs_len)
            self.single_observation_space = _gym.Box(low, high, dtype=np.int32)
        self.action_space = _gym.batch_space(self.single_action_space, self.num_envs)
        self.observation_space = _gym.batch_space(self.single_observation_space, self.num_envs)

    def _open(self, seed):
        """(Re)makes the C vector env with seed: episode counters start from 0."""
        self._free()
        ptr = ctypes.c_void_p()
        err = _lib.us_err()
        st = self._lib.us_vecenv_init(ctypes.byref(ptr), self._sim.ptr, ctypes.byref(self.config),
                                      self.num_envs, self.threads, seed, int(self.eval_order),
                                      ctypes.byref(err))
        if st != 0:
            raise _lib.error(self._lib, st, err)
        self._vec = ptr.value
        self.seed_value = seed

    def _free(self):
        vec, self._vec = self._vec, None
        if vec:
            self._lib.us_vecenv_free(vec)

    def _require_open(self):
        if self._vec is None:
            raise RuntimeError("usersim: the vector environment is closed")

    def reset(self, *, seed=None, options=None):
        self._require_open()
        if options:
            raise ValueError("usersim: the vector env takes no reset options, "
                             f"found {sorted(options)}")
        if seed is not None:
            if not is_int(seed) or not 0 <= seed < 2**64:
                raise ValueError("usersim: the vector env takes one integer seed in [0, 2**64) "
                                 f"(env i's seeds derive from it), found {seed!r}")
            super().reset(seed=int(seed))
            if self._started or int(seed) != self.seed_value:
                self._open(int(seed))
        self._lib.us_vecenv_reset(self._vec, self._addr[self._cur])
        self._started = True
        obs = self._obs[self._cur]
        return self._observation(), {"user": obs[:, 0].copy()}

    def step(self, actions):
        self._require_open()
        if not self._started:
            raise RuntimeError("usersim: call reset() before step()")
        a = np.asarray(actions)
        if a.shape != (self.num_envs,) or a.dtype.kind not in "iu":
            raise ValueError(f"usersim: actions must be {self.num_envs} integer item ids, "
                             f"found shape {a.shape} of {a.dtype}")
        # The C library aborts on an item out of range, so ids are checked here: other types
        # before the cast (which could wrap a bad id into range), then every id as unsigned,
        # where a negative one is huge.
        if a.dtype != np.int32 and (a.min() < 0 or a.max() >= self.n_items):
            raise ValueError(f"usersim: item ids must be in 0..{self.n_items - 1}, found "
                             f"{a.min()}..{a.max()}")
        np.copyto(self._actions, a, casting="unsafe")
        if self._actions_u32.max() >= self.n_items:
            raise ValueError(f"usersim: item ids must be in 0..{self.n_items - 1}, found "
                             f"{a.min()}..{a.max()}")
        prev, self._cur = self._cur, 1 - self._cur
        self._lib.us_vecenv_step(self._vec, self._step_args[0], self._addr[self._cur],
                                 *self._step_args[1:])
        rewards = self._rewards.copy()
        terminated = self._terminated.view(np.bool_).copy()
        truncated = self._truncated.view(np.bool_).copy()
        infos = {"user": self._users.copy()}
        ended = terminated | truncated
        obs = self._observation()
        if ended.any():
            if self._feat is not None:
                infos["final_obs"] = _reconstruct_final_features(
                    self._feat[prev], self._actions, rewards, self._vectors, self.config.obs_len)
            else:
                infos["final_obs"] = _reconstruct_final(self._obs[prev], self._actions, rewards)
            infos["_final_obs"] = ended
        return obs, rewards, terminated, truncated, infos

    def _observation(self):
        """A copy of the observation the last C call left in the current buffer (the feature
        one, written now, when chosen)."""
        if self._feat is not None:
            self._lib.us_vecenv_features(self._vec, self._feat_addr[self._cur])
            return self._feat[self._cur].copy()
        return self._obs[self._cur].copy()

    def item_features(self):
        """Every item's features: see UserSimEnv.item_features (the same dict, with the same
        read-only views of the shared simulator's memory)."""
        self._require_open()
        return self._sim.item_features()

    def close(self, **kwargs):
        self._free()
        self._vectors = None  # a view that keeps the simulator open
        sim, self._sim = getattr(self, "_sim", None), None
        if sim is not None:
            _sim.release(sim)
        self.closed = True

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the modules may already be gone
            pass


def vector_entry_point(num_envs, store, **kwargs):
    """gymnasium.make_vec("usersim/UserSim-v0", num_envs=n, vectorization_mode=
    "vector_entry_point", store=...) lands here."""
    kwargs.pop("render_mode", None)
    return UserSimVectorEnv(store, num_envs, **kwargs)
