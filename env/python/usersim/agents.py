"""agents.py: policies against the simulated users from Python: usersim.evaluate() (a policy's
figures) and usersim.ab() (a simulated A/B test of two policies), over the C library's us_eval
and us_ab (agents/agents.h), so Python and `usersim eval` / `usersim ab` give the same figures
for the same arguments.

A policy is
  - a name: "random", "popular", "sasrec", "egreedy:EPS" or "oracle" (the baselines);
  - a training run's directory (`usersim train --out RUN`): its greedy policy;
  - any Python callable f(obs) -> items: obs is an int32 numpy array (B, 1 + 2*max_steps), one
    row per simulated user, [user, then the session's (item, reaction) pairs, oldest first,
    padded at the front with (-1, -1)] (the whole session so far: the row holds everything a
    policy needs to avoid repeating itself); it returns B item ids (any integer sequence).
    Rows come in batches of up to 64 users. The callable may keep its own state, but every
    call must depend only on its arguments for the arms to see common random numbers.

Every policy meets the same users with the same random numbers (common random numbers), so
differences are paired user by user.
"""
import ctypes
import math
import os

import numpy as np

from . import _lib, _sim

US_ENV_MAX_OBS_LEN = _lib.US_ENV_MAX_OBS_LEN

# act(self, obs, B, obs_size, rngs, actions)
ACT_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32), ctypes.c_int,
                          ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(ctypes.c_int32))
FREE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class us_agent_policy(ctypes.Structure):
    _fields_ = [
        ("name", ctypes.c_char * 64),
        ("self", ctypes.c_void_p),
        ("act", ctypes.c_void_p),
        ("free", ctypes.c_void_p),
    ]


class us_eval_config(ctypes.Structure):
    _fields_ = [
        ("episodes", ctypes.c_int),
        ("seed", ctypes.c_uint64),
        ("threads", ctypes.c_int),
        ("env", _lib.us_env_config),
        ("users", ctypes.POINTER(ctypes.c_int32)),
        ("n_users", ctypes.c_int),
    ]


class us_metric(ctypes.Structure):
    _fields_ = [("mean", ctypes.c_double), ("ci", ctypes.c_double)]


class us_eval_result(ctypes.Structure):
    _fields_ = [
        ("policy", ctypes.c_char * 64),
        ("episodes", ctypes.c_int),
        ("avg_reward", us_metric),
        ("total_reward", us_metric),
        ("liking", us_metric),
        ("length", us_metric),
        ("coverage", us_metric),
        ("novelty", us_metric),
    ]


class us_ab_arm(ctypes.Structure):
    _fields_ = [("like_rate", us_metric), ("ret", us_metric), ("length", us_metric)]


class us_ab_result(ctypes.Structure):
    _fields_ = [
        ("users", ctypes.c_int),
        ("a", us_ab_arm),
        ("b", us_ab_arm),
        ("diff_return", us_metric),
        ("diff_length", us_metric),
        ("diff_like_rate", us_metric),
        ("lift", ctypes.c_double),
        ("p_value", ctypes.c_double),
        ("users_needed", ctypes.c_double),
    ]


# Sizes on LP64, from the header by hand: the policy 64 + 3 pointers; the config int, pad,
# uint64, int, pad, the 40-byte env config, a pointer, an int and pad (80); a result 64 + int +
# pad + 6 metrics of 16 (168); an arm 48; the A/B result int + pad + 2 arms + 3 metrics + 3
# doubles (176).
LP64_SIZES = {us_agent_policy: 88, us_eval_config: 80, us_eval_result: 168, us_ab_result: 176}
if ctypes.sizeof(ctypes.c_void_p) == 8:
    for _s, _n in LP64_SIZES.items():
        if ctypes.sizeof(_s) != _n:
            raise ImportError(f"usersim: the ctypes mirror of {_s.__name__} is "
                              f"{ctypes.sizeof(_s)} bytes, expected {_n}")

_declared = False


def _declare(lib):
    global _declared
    if _declared:
        return
    P, vp, cint = ctypes.POINTER, ctypes.c_void_p, ctypes.c_int
    lib.us_eval_config_default.restype = us_eval_config
    lib.us_eval_config_default.argtypes = []
    lib.us_policy_open.restype = cint
    lib.us_policy_open.argtypes = [P(us_agent_policy), vp, ctypes.c_char_p, P(_lib.us_err)]
    lib.us_agent_policy_free.restype = None
    lib.us_agent_policy_free.argtypes = [P(us_agent_policy)]
    lib.us_eval.restype = cint
    lib.us_eval.argtypes = [vp, P(us_agent_policy), P(us_eval_config), P(us_eval_result),
                            P(ctypes.c_double), P(ctypes.c_double), P(_lib.us_err)]
    lib.us_ab.restype = cint
    lib.us_ab.argtypes = [vp, P(us_agent_policy), P(us_agent_policy), P(us_eval_config),
                          P(us_ab_result), P(_lib.us_err)]
    lib.us_agent_split_users.restype = None
    lib.us_agent_split_users.argtypes = [cint, ctypes.c_double, P(ctypes.c_int32), P(cint),
                                         P(ctypes.c_int32), P(cint)]
    _declared = True


class _Callable:
    """A Python callable as a us_agent_policy. An exception inside it cannot cross the C
    library, so it is kept, the call answers item 0 for every row, and it is raised when the C
    call returns."""

    def __init__(self, fn, n_items, name):
        self.fn = fn
        self.n_items = n_items
        self.error = None
        self._act = ACT_FN(self._call)  # kept alive as long as the policy
        self.policy = us_agent_policy(name=name.encode()[:63],
                                      act=ctypes.cast(self._act, ctypes.c_void_p).value)

    def _call(self, _self, obs, B, obs_size, _rngs, actions):
        out = np.ctypeslib.as_array(actions, shape=(B,))
        if self.error is not None:
            out[:] = 0
            return
        try:
            rows = np.ctypeslib.as_array(obs, shape=(B, obs_size)).copy()
            items = np.asarray(self.fn(rows))
            if items.shape != (B,) or not np.issubdtype(items.dtype, np.integer):
                raise ValueError(f"usersim: a policy must return {B} integer item ids for "
                                 f"{B} observations, found shape {items.shape} of "
                                 f"{items.dtype}")
            if B and (items.min() < 0 or items.max() >= self.n_items):
                raise ValueError(f"usersim: a policy returned an item out of range: the store "
                                 f"has items 0..{self.n_items - 1}")
            out[:] = items
        except BaseException as e:  # kept and raised after the C call
            self.error = e
            out[:] = 0


class _Policies:
    """Opens policies (names, run directories, callables) on a sim; frees the C ones."""

    def __init__(self, lib, sim):
        self.lib, self.sim, self.c_owned, self.callables = lib, sim, [], []

    def open(self, p, label):
        if callable(p):
            name = getattr(p, "__name__", None) or type(p).__name__
            c = _Callable(p, self.sim.n_items, name)
            self.callables.append(c)
            return c.policy
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"usersim: {label} must be a policy name, a run directory or a "
                            f"callable, found {type(p).__name__}")
        pol = us_agent_policy()
        err = _lib.us_err()
        st = self.lib.us_policy_open(ctypes.byref(pol), self.sim.ptr, os.fsencode(p),
                                     ctypes.byref(err))
        _lib.check(self.lib, st, err)
        self.c_owned.append(pol)
        return pol

    def raise_pending(self):
        for c in self.callables:
            if c.error is not None:
                raise c.error

    def close(self):
        for pol in self.c_owned:
            self.lib.us_agent_policy_free(ctypes.byref(pol))
        self.c_owned = []


def _config(lib, sim, n, seed, population, holdout, max_steps, threads):
    """The us_eval_config and the user array it points to (kept alive by the caller)."""
    _declare(lib)
    if population not in ("heldout", "all"):
        raise ValueError(f"usersim: population must be 'heldout' or 'all', found {population!r}")
    if not 0.0 < float(holdout) < 1.0:
        raise ValueError(f"usersim: holdout must lie strictly between 0 and 1, found {holdout!r}")
    c = lib.us_eval_config_default()
    c.episodes = int(n)
    c.seed = int(seed)
    c.threads = int(threads)
    c.env = _sim.env_config(lib, {"max_steps": max_steps})
    users = None
    if population == "heldout":
        nu = sim.n_users
        held = np.empty(nu, dtype=np.int32)
        kept = np.empty(nu, dtype=np.int32)
        nh, nk = ctypes.c_int(), ctypes.c_int()
        P32 = ctypes.POINTER(ctypes.c_int32)
        lib.us_agent_split_users(nu, float(holdout), held.ctypes.data_as(P32), ctypes.byref(nh),
                                 kept.ctypes.data_as(P32), ctypes.byref(nk))
        users = held[: nh.value].copy()
        c.users = users.ctypes.data_as(P32)
        c.n_users = nh.value
    return c, users


def _metric(m, scale=1.0):
    return {"mean": m.mean * scale, "ci95": m.ci * scale}


def _run(store, sim_options, fn):
    lib = _lib.load()
    sim = _sim.acquire(store, sim_options)
    pols = _Policies(lib, sim)
    try:
        return fn(lib, sim, pols)
    finally:
        pols.close()
        _sim.release(sim)


def evaluate(store, policy, episodes=500, seed=7, population="heldout", holdout=0.1,
             max_steps=50, threads=1, **sim_options):
    """A policy's figures against store's simulated users, as `usersim eval` prints them: a
    dict of avg_reward (mean over users of likes per recommendation), total_reward (mean likes
    per session: the return), liking_pct (all likes / all recommendations), length (mean
    session length), coverage_pct (distinct items recommended / catalogue), novelty_pct (share
    of recommendations outside the categories of the user's training history), each
    {"mean", "ci95"} (a 95% interval over users), and per_user_return / per_user_length
    (numpy arrays, one per session).

    episodes: sessions, one per user drawn from the population ("heldout": the users
    `usersim train` holds out with the share holdout, 0.1; "all": every user). seed (7): the
    world: users and reactions. max_steps (50): steps before a session is cut. threads (1):
    env threads (the figures do not change). sim_options: as usersim.make's simulator options.
    """
    def go(lib, sim, pols):
        c, users = _config(lib, sim, episodes, seed, population, holdout, max_steps, threads)
        pol = pols.open(policy, "policy")
        res = us_eval_result()
        ret = np.zeros(c.episodes, dtype=np.float64)
        length = np.zeros(c.episodes, dtype=np.float64)
        err = _lib.us_err()
        PD = ctypes.POINTER(ctypes.c_double)
        st = lib.us_eval(sim.ptr, ctypes.byref(pol), ctypes.byref(c), ctypes.byref(res),
                         ret.ctypes.data_as(PD), length.ctypes.data_as(PD), ctypes.byref(err))
        pols.raise_pending()
        _lib.check(lib, st, err)
        del users
        return {
            "episodes": res.episodes,
            "avg_reward": _metric(res.avg_reward),
            "total_reward": _metric(res.total_reward),
            "liking_pct": _metric(res.liking),
            "length": _metric(res.length),
            "coverage_pct": _metric(res.coverage),
            "novelty_pct": _metric(res.novelty),
            "per_user_return": ret,
            "per_user_length": length,
        }

    return _run(store, sim_options, go)


def ab(store, policy_a, policy_b, users=1000, seed=7, population="heldout", holdout=0.1,
       max_steps=50, threads=1, **sim_options):
    """A simulated A/B test of policy_a against policy_b, as `usersim ab` runs it: both arms
    meet the same users with the same random numbers. Returns a dict: users; a and b, each
    {like_rate, return, length} as {"mean", "ci95"}; b_minus_a, the paired differences of the
    same three; lift ((return_b - return_a) / return_a; nan when return_a is 0); p_value
    (paired, two-sided); users_needed (users per arm for the observed return difference to be
    detected at 80% power, 5% two-sided; inf when there is none). Options as evaluate().
    """
    def go(lib, sim, pols):
        c, held = _config(lib, sim, users, seed, population, holdout, max_steps, threads)
        pa = pols.open(policy_a, "policy_a")
        pb = pols.open(policy_b, "policy_b")
        r = us_ab_result()
        err = _lib.us_err()
        st = lib.us_ab(sim.ptr, ctypes.byref(pa), ctypes.byref(pb), ctypes.byref(c),
                       ctypes.byref(r), ctypes.byref(err))
        pols.raise_pending()
        _lib.check(lib, st, err)
        del held

        def arm(x):
            return {"like_rate": _metric(x.like_rate), "return": _metric(x.ret),
                    "length": _metric(x.length)}

        return {
            "users": r.users,
            "a": arm(r.a),
            "b": arm(r.b),
            "b_minus_a": {"like_rate": _metric(r.diff_like_rate),
                          "return": _metric(r.diff_return),
                          "length": _metric(r.diff_length)},
            "lift": r.lift,
            "p_value": r.p_value,
            "users_needed": r.users_needed if math.isfinite(r.users_needed) else math.inf,
        }

    return _run(store, sim_options, go)
