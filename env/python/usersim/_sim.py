"""_sim.py: keyword options to us_sim_config / us_env_config, and the shared us_sim.

A us_sim is immutable after us_sim_open and safe to share between envs and threads (DESIGN.md),
so every environment made from the same store file (same path, size and modification time) and
the same simulator options uses one opened population. It is closed when the last environment
using it, and the last numpy view of its memory (Sim.item_features), is closed or collected.
"""
import ctypes
import math
import os
import threading

import numpy as np

from . import _lib

# Keyword options and where they go. Each simulator option is documented at us_sim_config in
# simulator/simulator.h, each environment option at us_env_config in env/env.h.
SIM_OPTIONS = (
    "paper",            # True: the paper's reaction (majority vote, judge only, repeats judged,
                        # cons-only dislike side, no collaborative parts), before the rest; False
    "mode",             # the judge: "fitted" (default), "majority", "weighted" or "stochastic"
    "tie",              # "random" (default, the paper) or "dislike" (the released code)
    "use_keyword",      # the keyword vote takes part (needs `usersim extract`); True
    "use_embed",        # the embedding vote takes part (needs `usersim embed`); True
    "use_sasrec",       # the SASRec vote takes part (needs `usersim train-sasrec`); True
    "weights",          # (keyword, embed, sasrec) weights of "weighted" and the soft score
    "category_filter",  # prefer history items of the candidate's category; True
    "empty_sim",        # embedding score of an empty side; 0.0
    "keyword_scale",    # p_keyword = sigmoid(keyword_scale * match difference); 1.0
    "embed_scale",      # p_embed = sigmoid(embed_scale * similarity difference); 10.0
    "sasrec_version",   # SASRec checkpoint; 0 = the newest rating head
    "thresholds",       # (keyword, embed, sasrec) decision thresholds; (0, 0, 0.5), the paper's
    "calibrate",        # fit the used votes' thresholds on the validation split; False
    "choose",           # choose, then judge (False: judge only, the paper); True
    "judge_known",      # items the user already met are judged again (False: no like); False
    "use_collab",       # the bias and matrix-factorization parts of the fitted judge; True
    "dislike_side",     # the dislike side also compares pros with disliked items'; True
    "mf_factors",       # matrix factorization's factors; 16
    "engage_negatives", # unseen items per chosen one in the engagement fit; 1
    "next_version",     # next-item checkpoint for choosing; 0 = the newest
    "seed",             # matrix factorization and the engagement negatives; 1
)
ENV_OPTIONS = (
    "max_steps",        # steps before truncation; 50
    "leave_prob",       # leave probability of a user whose likes and misses balance; 0.025
    "obs_len",          # (item, reaction) pairs in the observation; 10
    "mask_repeats",     # an item recommended twice in an episode earns 0 unasked; False
    "leave_gain",       # how strongly satisfaction moves leaving (0: constant); 0.35
    "leave_decay",      # memory of the satisfaction state, in [0, 1); 0.8
    "observation",      # "ids" (default): int32 [user, obs_len (item, reaction) pairs];
                        # "features": float32 [user stub, obs_len (item vector, reaction)
                        # pairs] (env/env.h, us_env_features), for a plain MLP policy
)
OBSERVATIONS = ("ids", "features")


def observation_kind(env_options):
    """The observation option of env_options ("ids" when absent), checked."""
    v = env_options.get("observation", "ids")
    if v not in OBSERVATIONS:
        raise ValueError(f"usersim: observation must be one of {', '.join(OBSERVATIONS)}, "
                         f"found {v!r}")
    return v


def _flag(name, v):
    if isinstance(v, bool) or v in (0, 1):
        return int(bool(v))
    raise ValueError(f"usersim: {name} must be True or False, found {v!r}")


def _choice(name, v, table):
    if isinstance(v, str) and v.lower() in table:
        return table[v.lower()]
    if isinstance(v, int) and not isinstance(v, bool) and v in table.values():
        return v
    raise ValueError(f"usersim: {name} must be one of {', '.join(table)}, found {v!r}")


def _number(name, v, kind=float):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and v != int(v)):
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"usersim: {name} must be {what}, found {v!r}")
    if kind is float and not math.isfinite(v):
        raise ValueError(f"usersim: {name} must be finite, found {v!r}")
    return kind(v)


def sim_config(lib, options):
    """us_sim_config from the defaults and the SIM_OPTIONS in options."""
    c = lib.us_sim_config_default()
    if "paper" in options and _flag("paper", options["paper"]):
        c = lib.us_sim_config_paper()
    for name, v in options.items():
        if name == "paper":
            continue
        if name == "mode":
            c.mode = _choice(name, v, _lib.MODES)
        elif name == "tie":
            c.tie = _choice(name, v, _lib.TIES)
        elif name.startswith("use_"):
            c.use[_lib.VOTE_NAMES.index(name[4:])] = _flag(name, v)
        elif name in ("weights", "thresholds"):
            w = list(v)
            if len(w) != _lib.US_SIM_NVOTES:
                raise ValueError(f"usersim: {name} must be (keyword, embed, sasrec), found {v!r}")
            field = c.weight if name == "weights" else c.threshold
            for k in range(_lib.US_SIM_NVOTES):
                field[k] = _number(name, w[k])
        elif name in ("calibrate", "choose", "judge_known", "use_collab", "dislike_side"):
            setattr(c, name, _flag(name, v))
        elif name in ("mf_factors", "engage_negatives"):
            setattr(c, name, _number(name, v, int))
        elif name in ("next_version", "seed"):
            n = _number(name, v, int)
            if n < 0:
                raise ValueError(f"usersim: {name} must be >= 0, found {v!r}")
            setattr(c, name, n)
        elif name == "category_filter":
            c.category_filter = _flag(name, v)
        elif name in ("empty_sim", "keyword_scale", "embed_scale"):
            setattr(c, name, _number(name, v))
        elif name == "sasrec_version":
            c.sasrec_version = _number(name, v, int)
    return c


def env_config(lib, options):
    """us_env_config from the defaults and the ENV_OPTIONS in options, validated by the C
    library (a bad value raises UserSimError naming the field)."""
    c = lib.us_env_config_default()
    for name, v in options.items():
        if name == "observation":
            observation_kind(options)  # not a us_env_config field: the envs read it
        elif name == "mask_repeats":
            c.mask_repeats = _flag(name, v)
        elif name in ("leave_prob", "leave_gain", "leave_decay"):
            setattr(c, name, _number(name, v))
        else:
            n = _number(name, v, int)
            if not -(2**31) <= n < 2**31:
                raise ValueError(f"usersim: {name} is out of range, found {v!r}")
            setattr(c, name, n)
    err = _lib.us_err()
    _lib.check(lib, lib.us_env_config_validate(ctypes.byref(c), ctypes.byref(err)), err)
    return c


def split_options(options):
    """(simulator options, environment options) from one dict; unknown names raise TypeError."""
    sim, env = {}, {}
    for name, v in options.items():
        if name in SIM_OPTIONS:
            sim[name] = v
        elif name in ENV_OPTIONS:
            env[name] = v
        else:
            known = ", ".join(SIM_OPTIONS + ENV_OPTIONS)
            raise TypeError(f"usersim: unknown option {name!r}; the options are {known}")
    return sim, env


def _config_key(c):
    """Every field of the config, so that two configs share one sim only when they are equal."""
    key = []
    for name, _ in c._fields_:
        v = getattr(c, name)
        key.append(tuple(v) if hasattr(v, "__len__") else v)
    return tuple(key)


class Sim(_lib.OwnsHandle):
    """One opened us_sim and what the binding looks up in it (raw ids, keyword texts), cached.
    Made and shared by acquire(); every holder calls release() once."""

    def __init__(self, lib, path, cfg, key):
        self.lib = lib
        self.path = path
        self.key = key
        self.refs = 0
        ptr = ctypes.c_void_p()
        err = _lib.us_err()
        st = lib.us_sim_open(ctypes.byref(ptr), os.fsencode(path), ctypes.byref(cfg),
                             ctypes.byref(err))
        _lib.check(lib, st, err)
        self.ptr = ptr.value
        self.config = _lib.us_sim_config.from_buffer_copy(cfg)
        # The thresholds in use: as given, or fitted on the validation split (calibrate).
        t = (ctypes.c_float * _lib.US_SIM_NVOTES)()
        lib.us_sim_thresholds(self.ptr, t)
        self.thresholds = tuple(float(x) for x in t)
        self.n_users = lib.us_sim_n_users(self.ptr)
        self.n_items = lib.us_sim_n_items(self.ptr)
        # Texts looked up so far, by id (a store may hold millions of users: nothing is
        # read ahead, except all user ids for user_id()).
        self._keywords = {}
        self._user_raw = {}
        self._item_raw = {}
        self._category = {}
        self._user_ids = None

    @staticmethod
    def _text(cache, fn, ptr, k):
        t = cache.get(k)
        if t is None:
            t = cache[k] = fn(ptr, k).decode("utf-8", "replace")
        return t

    def keyword(self, k):
        return self._text(self._keywords, self.lib.us_sim_keyword, self.ptr, k)

    def user_raw(self, u):
        return self._text(self._user_raw, self.lib.us_sim_user_raw, self.ptr, u)

    def item_raw(self, i):
        return self._text(self._item_raw, self.lib.us_sim_item_raw, self.ptr, i)

    def category(self, i):
        return self._text(self._category, self.lib.us_sim_category, self.ptr, i)

    def user_id(self, raw):
        """The dense id of the user whose raw id is raw; KeyError when there is none. The
        first call reads every user's raw id."""
        if self._user_ids is None:
            f = self.lib.us_sim_user_raw
            self._user_ids = {f(self.ptr, u).decode("utf-8", "replace"): u
                              for u in range(self.n_users)}
        return self._user_ids[raw]

    def item_vectors(self, keep=None):
        """(pros, cons, has): the (V, D) float32 views of each side of the item-vector matrix
        and the (V, 2) bool mask of real rows, read-only, keeping the sim open (through keep,
        or a new holder); three None when the sim holds no vectors."""
        V = self.n_items
        dim = ctypes.c_int()
        has = ctypes.c_void_p()
        addr = self.lib.us_sim_item_vectors(self.ptr, ctypes.byref(dim), ctypes.byref(has))
        if not addr:
            return None, None, None
        keep = keep or _Keep(self)
        D = dim.value
        both = _view(keep, addr, ctypes.c_float, V * 2 * D, np.float32, (V, 2, D))
        mask = _view(keep, has.value, ctypes.c_uint8, V * 2, np.uint8, (V, 2)).view(np.bool_)
        return both[:, 0, :], both[:, 1, :], mask

    def item_features(self):
        """Every item's features (UserSimEnv.item_features documents the dict): numpy arrays
        viewing the us_sim's memory, read-only, where the C library keeps them (vectors,
        categories, keyword runs), and Python lists of str (titles, names) otherwise."""
        lib, ptr, V = self.lib, self.ptr, self.n_items
        keep = _Keep(self)
        out = {}
        out["vectors"], out["cons_vectors"], out["has_vector"] = self.item_vectors(keep)
        n_cats = ctypes.c_int()
        addr = lib.us_sim_item_categories(ptr, ctypes.byref(n_cats))
        if addr:
            out["category"] = _view(keep, addr, ctypes.c_int32, V, np.int32, (V,))
        else:
            out["category"] = _frozen(np.full(V, -1, dtype=np.int32))
        out["category_names"] = [lib.us_sim_category_name(ptr, c).decode("utf-8", "replace")
                                 for c in range(n_cats.value)]
        out["title"] = [lib.us_sim_item_title(ptr, i).decode("utf-8", "replace")
                        for i in range(V)]
        for side, name in enumerate(("pros", "cons")):
            off, ids = ctypes.c_void_p(), ctypes.c_void_p()
            total = lib.us_sim_keyword_csr(ptr, side, ctypes.byref(off), ctypes.byref(ids))
            if off.value:
                out[name + "_indptr"] = _view(keep, off.value, ctypes.c_uint32, V + 1,
                                              np.uint32, (V + 1,))
                out[name + "_ids"] = _view(keep, ids.value, ctypes.c_uint32, total, np.uint32,
                                           (total,))
            else:
                out[name + "_indptr"] = _frozen(np.zeros(V + 1, dtype=np.uint32))
                out[name + "_ids"] = _frozen(np.zeros(0, dtype=np.uint32))
        out["keywords"] = [self.keyword(k) for k in range(lib.us_sim_n_keywords(ptr))]
        return out

    def _close(self):
        if self.ptr:
            self.lib.us_sim_close(self.ptr)
            self.ptr = None


_open = {}
_open_lock = threading.Lock()


class _Keep:
    """One reference to a Sim held for as long as a numpy view of its memory lives: every view
    made by Sim.item_features reaches one of these through its base, so the us_sim is closed
    only after the last view (and the last env) is gone."""

    def __init__(self, sim):
        with _open_lock:
            sim.refs += 1
        self.sim = sim

    def __del__(self):
        try:
            release(self.sim)
        except Exception:  # at interpreter exit the modules may already be gone
            pass


def _frozen(a):
    a.flags.writeable = False
    return a


def _view(keep, addr, ctype, count, dtype, shape):
    """A read-only numpy array of shape over count ctype values at addr, keeping keep alive."""
    if count == 0:
        return _frozen(np.zeros(shape, dtype=dtype))
    buf = (ctype * count).from_address(addr)
    buf._usersim_keep = keep  # numpy's base is a memoryview of buf, which holds keep
    return _frozen(np.frombuffer(buf, dtype=dtype).reshape(shape))


def acquire(store, sim_options):
    """The shared Sim for store and the simulator options, opened on first use; the caller
    must release() it once."""
    lib = _lib.load()
    cfg = sim_config(lib, sim_options)
    path = os.path.abspath(os.fspath(store))
    try:
        st = os.stat(path)
        stamp = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = (path, None, None)  # us_sim_open says what is wrong with it
    key = stamp + _config_key(cfg)
    with _open_lock:
        sim = _open.get(key)
        if sim is None:
            sim = Sim(lib, path, cfg, key)
            _open[key] = sim
        sim.refs += 1
        return sim


def release(sim):
    """Drops one holder's reference; closes the us_sim after the last one (every env on it must
    have been freed already)."""
    with _open_lock:
        sim.refs -= 1
        if sim.refs > 0:
            return
        if _open.get(sim.key) is sim:
            del _open[sim.key]
    sim._close()


def shared_count():
    """How many us_sim are open (for tests)."""
    with _open_lock:
        return len(_open)
