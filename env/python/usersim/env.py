"""env.py: UserSimEnv, one simulated user per episode behind the Gymnasium Env API, over one
us_env of the C library (env/env.h).

Each step is one ctypes call into us_env_step, which writes the next observation into a numpy
buffer this object owns (with observation="features", a second call, us_env_features, writes
the float32 feature observation into another); the step's reaction (each vote, its score, the matched keywords) is
turned into the info dict. The environment draws nothing itself: every episode's C generator
is seeded from a number drawn from self.np_random, which reset(seed=s) seeds the way gymnasium
does, so the same seed gives the same trajectory with or without gymnasium installed.
"""
import ctypes
import math

import numpy as np

from . import _gym, _lib, _sim


def is_int(v):
    """An integer that is not a bool (numpy's included)."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _action_index(action, n_items):
    """action as a Python int in [0, n_items); ValueError otherwise (the C library treats an
    out-of-range item as a programmer error and aborts, so it is caught here)."""
    a = action
    if isinstance(a, np.ndarray) and a.shape == ():
        a = a[()]
    if not is_int(a):
        raise ValueError(f"usersim: an action is an item id (an integer), found {action!r}")
    a = int(a)
    if not 0 <= a < n_items:
        raise ValueError(f"usersim: item {a} is out of range: the store has items 0..{n_items - 1}")
    return a


def features_space_bounds(size):
    """low, high of the float32 feature observation (env/env.h): L2-normalized vectors, their
    mean, and reactions +1 / -1 / 0, so every entry is in [-1, 1]."""
    return np.full(size, -1.0, dtype=np.float32), np.full(size, 1.0, dtype=np.float32)


def features_size_or_raise(lib, size, store):
    """size, or a ValueError saying why a store gives no feature observation."""
    if size <= 0:
        raise ValueError(
            f"usersim: observation='features' needs item text vectors, and {store} was opened "
            "without them: run `usersim embed` (or `usersim build`) on the store, and keep "
            "use_embed=True")
    return size


def observation_bounds(n_users, n_items, obs_len):
    """low, high of the int32 observation [user, then obs_len (item, reaction) pairs], where a
    pair not yet filled is (-1, -1) and a reaction is 1 like, 0 dislike."""
    size = 1 + 2 * obs_len
    low = np.full(size, -1, dtype=np.int32)
    low[0] = 0
    high = np.empty(size, dtype=np.int32)
    high[0] = n_users - 1
    high[1::2] = n_items - 1
    high[2::2] = 1
    return low, high


class UserSimEnv(_lib.OwnsHandle, _gym.Env):
    """A simulated user receiving one recommended item per step (env/env.h has the semantics).

    UserSimEnv(store, render_mode=None, eval_order=False, **options); usersim.make() is the
    same. store is a NAME.usdb file; options are listed in usersim.OPTIONS (simulator options
    such as paper, mode, choose, judge_known, use_collab, tie, use_keyword, use_embed,
    use_sasrec, category_filter, thresholds, calibrate; environment options max_steps,
    leave_prob, leave_gain, leave_decay, obs_len, mask_repeats, observation). The attribute
    thresholds holds the (keyword, embed, sasrec) thresholds in use (fitted on the validation
    split with calibrate=True). eval_order: episodes without a chosen user
    take users 0, 1, 2, ... in turn and never end early (the evaluation mode).

    Spaces: action_space Discrete(n_items); observation_space Box(int32, (1 + 2*obs_len,)):
    the user id, then the last obs_len (item, reaction) pairs, oldest first, padded at the
    front with (-1, -1). With observation="features" it is Box(float32, (D + obs_len*(D + 1),),
    -1, 1), D the store's text-vector dimension (env/env.h, us_env_features): the user stub
    (the mean text vector of the items the user liked in training), then the last obs_len
    (item text vector, reaction +1 like / -1 not) pairs, oldest first, zero-padded at the
    front; a store without vectors (no embed stage, or use_embed=False) raises ValueError.

    reset(seed=None, options=None): options may hold "user" (a dense id, or a raw id as a str)
    and "episode_seed" (the C generator's seed for this episode instead of one drawn from
    np_random; with it, a single env replays episode k of env i of a vector env made with seed
    s: usersim.episode_seed(s, i, k)). The info holds user, user_raw and episode_seed (a
    numpy uint64).

    step(item) -> obs, reward (1.0 like, 0.0 otherwise), terminated (the user left),
    truncated (max_steps reached), info: user, user_raw, item, item_raw, category, step,
    like (chosen and judged liked), repeat (an item met before), logged (a training item's
    logged label 1/0, else -1), engage and p_engage (did the user choose it, and the
    probability), judged (the judge's decision), p_reward (P(like) of the whole reaction),
    votes {keyword, embed, sasrec: 1 like, 0 dislike, -1 not used}, score (the judge's
    P(like)), pros_matches, cons_matches, matched_pros, matched_cons (keyword texts), pros_sim,
    cons_sim, p_sasrec, p_bias, p_mf, and asked (the user was asked: False for a repeat,
    which earns no like unasked). Every key has one type whatever happens, so vector wrappers
    can batch them (gymnasium's sync vector env makes each info array from the first env's
    value): a score the reaction has none of (a component not used, or any score of a repeat)
    is -1.0, and a keyword count -1, as votes and logged say -1 for none. Read a score under
    its flag: asked for the reaction's scores, votes[name] >= 0 for a component's (a cosine
    pros_sim / cons_sim may itself be -1.0); every probability (p_*, score) is in [0, 1] when
    present. (Not NaN: NaN != NaN, and gymnasium's env checker compares infos with ==.)

    item_features() gives every item's text vectors, categories, titles and keywords.
    """

    metadata = {"render_modes": ["human", "ansi"], "render_fps": 4}

    def __init__(self, store, render_mode=None, eval_order=False, **options):
        self._env = None
        self._sim = None
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError("usersim: render_mode must be None, 'human' or 'ansi', "
                             f"found {render_mode!r}")
        self.render_mode = render_mode
        self.eval_order = bool(eval_order)
        sim_options, env_options = _sim.split_options(options)
        lib = _lib.load()
        self._lib = lib
        self.config = _sim.env_config(lib, env_options)
        self.observation = _sim.observation_kind(env_options)
        self._sim = _sim.acquire(store, sim_options)
        self.store = self._sim.path
        self.thresholds = self._sim.thresholds
        ptr = ctypes.c_void_p()
        err = _lib.us_err()
        st = lib.us_env_init(ctypes.byref(ptr), self._sim.ptr, ctypes.byref(self.config),
                             ctypes.byref(err))
        if st != 0:
            _sim.release(self._sim)
            self._sim = None
            raise _lib.error(lib, st, err)
        self._env = ptr.value
        self.n_users = self._sim.n_users
        self.n_items = self._sim.n_items
        self.obs_size = lib.us_env_obs_size(self._env)
        self._obs = np.full(self.obs_size, -1, dtype=np.int32)
        self._obs_addr = self._obs.ctypes.data
        self._result = _lib.us_env_step_result()
        self._result_ref = ctypes.byref(self._result)
        self._used = tuple(bool(u) for u in self._sim.config.use)
        self._done = True
        self._last = None  # the last step's (item, reward, terminated, truncated, info)
        self.action_space = _gym.Discrete(self.n_items)
        self._feat = None
        if self.observation == "features":
            try:
                size = features_size_or_raise(lib, lib.us_env_features_size(self._env),
                                              self.store)
            except ValueError:
                self.close()
                raise
            self._feat = np.zeros(size, dtype=np.float32)
            self._feat_addr = self._feat.ctypes.data
            self.observation_space = _gym.Box(*features_space_bounds(size), dtype=np.float32)
        else:
            low, high = observation_bounds(self.n_users, self.n_items, self.config.obs_len)
            self.observation_space = _gym.Box(low, high, dtype=np.int32)

    # ---- the Gymnasium API ----

    def reset(self, *, seed=None, options=None):
        self._require_open()
        super().reset(seed=seed)
        user = _lib.US_ENV_NEXT_USER if self.eval_order else _lib.US_ENV_RANDOM_USER
        episode_seed = None
        for key, v in (options or {}).items():
            if key == "user":
                if v is not None:
                    user = self._user_index(v)
            elif key == "episode_seed":
                if v is not None:
                    if not is_int(v) or not 0 <= int(v) < 2**64:
                        raise ValueError("usersim: episode_seed must be an integer in "
                                         f"[0, 2**64), found {v!r}")
                    episode_seed = int(v)
            else:
                raise ValueError(f"usersim: unknown reset option {key!r} "
                                 "(known: user, episode_seed)")
        if episode_seed is None:
            # Drawn even when a user is given, so the stream of seeds never depends on options.
            episode_seed = int(self.np_random.integers(0, 2**64, dtype=np.uint64))
        u = self._lib.us_env_reset(self._env, episode_seed, user, self._obs_addr)
        self._done = False
        self._last = None
        # numpy's uint64: gymnasium batches info values into arrays of their type, and a seed
        # may not fit an int64.
        info = {"user": u, "user_raw": self._sim.user_raw(u),
                "episode_seed": np.uint64(episode_seed)}
        if self.render_mode == "human":
            self.render()
        return self._observation(), info

    def step(self, action):
        self._require_open()
        if self._done:
            raise RuntimeError("usersim: the episode has ended (or none has started): "
                               "call reset() first")
        item = _action_index(action, self.n_items)
        self._lib.us_env_step(self._env, item, self._obs_addr, self._result_ref)
        r = self._result
        terminated, truncated = bool(r.terminated), bool(r.truncated)
        self._done = terminated or truncated
        info = self._step_info(item, r)
        self._last = (item, float(r.reward), terminated, truncated, info)
        if self.render_mode == "human":
            self.render()
        return self._observation(), float(r.reward), terminated, truncated, info

    def render(self):
        if self.render_mode is None:
            return None
        text = self._describe()
        if self.render_mode == "ansi":
            return text + "\n"
        print(text)
        return None

    def close(self):
        env, self._env = getattr(self, "_env", None), None
        if env:
            self._lib.us_env_free(env)
        sim, self._sim = getattr(self, "_sim", None), None
        if sim is not None:
            _sim.release(sim)
        self._done = True

    def __del__(self):
        try:
            self.close()
        except Exception:  # at interpreter exit the modules may already be gone
            pass

    # ---- beyond Gymnasium ----

    def action_masks(self):
        """Boolean (n_items,): True for every item not yet recommended in this episode."""
        self._require_open()
        mask = np.empty(self.n_items, dtype=np.uint8)
        self._lib.us_env_action_mask(self._env, mask.ctypes.data)
        return mask.view(np.bool_)

    @property
    def user(self):
        """The episode's user (dense id), -1 before the first reset."""
        self._require_open()
        return self._lib.us_env_user(self._env)

    @property
    def steps(self):
        """Steps taken in this episode."""
        self._require_open()
        return self._lib.us_env_steps(self._env)

    def item_raw(self, item):
        """The dataset's id of item (a dense id)."""
        return self._sim.item_raw(_action_index(item, self.n_items))

    def item_features(self):
        """Every item's features, as the simulator holds them (V = n_items), in a dict:
          vectors       (V, D) float32: each item's pros text vector, L2-normalized, a zero row
                        where the store has none; the vectors the feature observation uses
          cons_vectors  (V, D) float32: the cons side likewise
          has_vector    (V, 2) bool: which rows (pros, cons) are vectors
                        (the three are None when the store has no vectors or use_embed=False)
          category      (V,) int32: index into category_names, -1 for none
          category_names  list of str
          title         list of V str ("" where the store has none)
          pros_indptr, pros_ids, cons_indptr, cons_ids   (V + 1,) and (nnz,) uint32: keyword
                        ids per item as CSR (item i's are ids[indptr[i]:indptr[i+1]], ascending;
                        scipy.sparse.csr_matrix((np.ones(nnz), ids, indptr)) takes them); empty
                        when the store has no keywords or use_keyword=False
          keywords      list of str: the text of each keyword id
        The arrays are read-only views of the simulator's own memory, not copies: they stay
        valid as long as they live (each one keeps the shared simulator open after this env is
        closed), and are never written (the simulator is shared by every env of the store).
        Copy one (np.array(a)) to change it. The lists are fresh copies."""
        self._require_open()
        return self._sim.item_features()

    # ---- helpers ----

    def _require_open(self):
        if self._env is None:
            raise RuntimeError("usersim: the environment is closed")

    def _user_index(self, v):
        if isinstance(v, str):
            try:
                return self._sim.user_id(v)
            except KeyError:
                raise ValueError(f"usersim: no user {v!r} in {self.store}") from None
        if not is_int(v):
            raise ValueError(f"usersim: user must be an id (int) or a raw id (str), found {v!r}")
        if not 0 <= int(v) < self.n_users:
            raise ValueError(f"usersim: user {int(v)} is out of range: the store has users "
                             f"0..{self.n_users - 1}")
        return int(v)

    def _observation(self):
        """A copy of the observation the last C call wrote (the feature one when chosen)."""
        if self._feat is not None:
            self._lib.us_env_features(self._env, self._feat_addr)
            return self._feat.copy()
        return self._obs.copy()

    def _step_info(self, item, r):
        rc = r.reaction
        sim = self._sim
        u = self._lib.us_env_user(self._env)
        asked = any(rc.vote[k] >= 0 for k in range(_lib.US_SIM_NVOTES))  # judged
        kw, em, sa = (asked and used for used in self._used)
        top = _lib.US_SIM_MAX_MATCHED
        def num(ok, v):  # a score, or -1.0 where there is none: always a float
            return float(v) if ok and not math.isnan(v) else -1.0

        return {
            "user": u,
            "user_raw": sim.user_raw(u),
            "item": item,
            "item_raw": sim.item_raw(item),
            "category": sim.category(item),
            "step": self._lib.us_env_steps(self._env),
            "like": bool(rc.like) and asked,
            "repeat": bool(r.repeat),
            "logged": int(rc.logged),
            "engage": bool(rc.engage) and asked,
            "p_engage": num(asked, rc.p_engage),
            "judged": bool(rc.judged) and asked,
            "asked": asked,
            "p_reward": float(rc.p_reward) if asked else 0.0,
            "p_bias": num(asked, rc.p_bias),
            "p_mf": num(asked, rc.p_mf),
            "votes": {name: rc.vote[k] for k, name in enumerate(_lib.VOTE_NAMES)},
            "score": num(asked, rc.score),
            "pros_matches": rc.pros_matches if kw else -1,
            "cons_matches": rc.cons_matches if kw else -1,
            "matched_pros": [sim.keyword(rc.matched_pros[k])
                             for k in range(min(rc.n_matched_pros, top))] if kw else [],
            "matched_cons": [sim.keyword(rc.matched_cons[k])
                             for k in range(min(rc.n_matched_cons, top))] if kw else [],
            "pros_sim": num(em, rc.pros_sim),
            "cons_sim": num(em, rc.cons_sim),
            "p_sasrec": num(sa, rc.p_sasrec),
        }

    def _describe(self):
        """A few lines saying where the episode is and why the user reacted as it did."""
        if self._env is None:
            return "usersim: closed"
        u = self._lib.us_env_user(self._env)
        if u < 0:
            return "usersim: no episode yet (call reset)"
        pairs = self._obs[1:].reshape(-1, 2)
        recent = " ".join(f"{i}{'+' if like else '-'}" for i, like in pairs if i >= 0) or "(none)"
        head = f"user {u} ({self._sim.user_raw(u)}) step {self.steps}: recent {recent}"
        if self._last is None:
            return head
        item, reward, term, trunc, info = self._last
        cat = f", {info['category']}" if info["category"] else ""
        judged = info["asked"]
        outcome = ("like" if info["like"] else "not chosen" if judged and not info["engage"]
                   else "dislike")
        lines = [head, f"  item {item} ({info['item_raw']}{cat}) -> {outcome}, reward {reward:g}"
                       + (" [repeat: not asked]" if not judged else "")]
        if judged:
            say = {name: {1: "like", 0: "dislike"}.get(v, "-") for name, v in info["votes"].items()}
            if info["pros_matches"] >= 0:
                pros = ", ".join(info["matched_pros"]) or "-"
                cons = ", ".join(info["matched_cons"]) or "-"
                lines.append(f"  keyword {say['keyword']}: pros {info['pros_matches']} ({pros}) "
                             f"vs cons {info['cons_matches']} ({cons})")
            if info["votes"]["embed"] >= 0:
                lines.append(f"  embed {say['embed']}: pros {info['pros_sim']:.3f} "
                             f"vs cons {info['cons_sim']:.3f}")
            if info["votes"]["sasrec"] >= 0:
                lines.append(f"  sasrec {say['sasrec']}: P(like) {info['p_sasrec']:.3f}")
            lines.append(f"  judge P(like) {info['score']:.3f}, P(choose) {info['p_engage']:.3f}")
        if term:
            lines.append("  the user left (terminated)")
        elif trunc:
            lines.append("  max_steps reached (truncated)")
        return "\n".join(lines)
