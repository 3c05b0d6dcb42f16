"""The Python binding (env/python, package usersim) against the C library, on real stores made
by the usersim command: synthetic data ingested and a SASRec rating head trained (one epoch),
and a copy with the keyword and embedding stages added (built-in extractor, hashed embedder)
for the full ensemble.

Run by tests/env/test_python.c (make test) with
  USERSIM_BIN       the usersim command            USERSIM_LIB   libusersim.so
  USERSIM_TEST_DIR  a scratch folder (optional)    USERSIM_ABI   the C structs' layout
Plain unittest; exits 1 on any failure. Prints a few speed figures (never asserted).
"""
import contextlib
import copy
import ctypes
import gc
import io
import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
import unittest
import warnings
import zipfile

import sqlite3

import numpy as np

import usersim
from usersim import _lib, _sim

import gymnasium
from gymnasium.utils.env_checker import check_env

BIN = os.environ.get("USERSIM_BIN", "")
WORK = os.environ.get("USERSIM_TEST_DIR") or tempfile.mkdtemp(prefix="usersim-py-")
N_USERS, N_ITEMS = 60, 40
# Most cases check the paper's reaction (judge only, majority vote, repeats judged again) with
# SASRec alone; the Reaction cases check the default one (choose, then the fitted judge).
SASREC_ONLY = dict(use_keyword=False, use_embed=False, paper=True)
DEFAULT_SASREC = dict(use_keyword=False, use_embed=False)
STORE = os.path.join(WORK, "sasrec.usdb")  # SASRec stage only
FULL = os.path.join(WORK, "full.usdb")     # every stage, or None when the command lacks them


def run_cli(*args):
    p = subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"usersim {' '.join(args)} exited {p.returncode}:\n{p.stdout}")
    return p.stdout


def setUpModule():
    global FULL
    if not BIN or not os.access(BIN, os.X_OK):
        raise RuntimeError("USERSIM_BIN must name the usersim command (make test sets it)")
    data = os.path.join(WORK, "data")
    run_cli("synth", "--out", data, "--users", str(N_USERS), "--items", str(N_ITEMS),
            "--reviews", "700", "--seed", "1")
    run_cli("ingest", "--format", "amazon", "--reviews", os.path.join(data, "Synthetic_5.json.gz"),
            "--meta", os.path.join(data, "meta_Synthetic.json.gz"), "--out", STORE)
    run_cli("train-sasrec", STORE, "--head", "both", "--epochs", "1", "--d", "8", "--seed", "1")
    commands = run_cli("--help")
    if " extract " in commands and " embed " in commands:
        with open(STORE, "rb") as src, open(FULL, "wb") as dst:
            dst.write(src.read())
        run_cli("extract", FULL, "--quiet")
        run_cli("embed", FULL, "--hashed")
    else:
        FULL = None


def training_items(user):
    """The items of user's training split, read from the store itself."""
    with contextlib.closing(sqlite3.connect(STORE)) as db:
        return {i for (i,) in db.execute(
            "SELECT item FROM interactions WHERE user = ? AND split = 0", (user,))}


def episode(env, actions, **reset):
    """(reset obs, info, then per step (obs, reward, terminated, truncated, info)) of one
    episode with actions drawn from the generator `actions`."""
    obs, info = env.reset(**reset)
    steps = []
    while True:
        out = env.step(int(actions.integers(env.n_items)))
        steps.append(out)
        if out[2] or out[3]:
            return obs, info, steps


def same_steps(a, b):
    if len(a) != len(b):
        return False
    for (oa, ra, ta, ua, ia), (ob, rb, tb, ub, ib) in zip(a, b):
        if not (np.array_equal(oa, ob) and ra == rb and ta == tb and ua == ub and ia == ib):
            return False
    return True


class Layout(unittest.TestCase):
    def test_mirrors_match_the_c_compiler(self):
        spec = os.environ.get("USERSIM_ABI")
        if not spec:
            self.skipTest("USERSIM_ABI not set (tests/env/test_python.c sets it)")
        got = _lib.layout()
        seen = set()
        for part in filter(None, spec.split(";")):
            head, _, fields = part.partition(":")
            name, size = head.split("=")
            seen.add(name)
            self.assertEqual(got[name][0], int(size), f"sizeof({name})")
            for f in filter(None, fields.split(",")):
                field, off = f.split("@")
                self.assertEqual(got[name][1][field], int(off), f"offsetof({name}, {field})")
            self.assertEqual(len(got[name][1]), len(list(filter(None, fields.split(",")))),
                             f"{name}: every field checked")
        self.assertEqual(seen, set(got))

    def test_defaults_come_back_by_value(self):
        lib = _lib.load()
        s = lib.us_sim_config_default()
        self.assertEqual((s.mode, s.tie, list(s.use), list(s.weight)), (3, 0, [1, 1, 1], [1.0] * 3))
        self.assertEqual((s.category_filter, s.empty_sim, s.keyword_scale, s.embed_scale,
                          s.sasrec_version), (1, 0.0, 1.0, 10.0, 0))
        self.assertEqual((list(s.threshold), s.calibrate), ([0.0, 0.0, 0.5], 0))
        self.assertEqual((s.use_collab, s.mf_factors, s.dislike_side, s.choose, s.next_version,
                          s.engage_negatives, s.judge_known, s.seed), (1, 16, 1, 1, 0, 1, 0, 1))
        p = lib.us_sim_config_paper()
        self.assertEqual((p.mode, p.choose, p.judge_known, p.dislike_side, p.use_collab),
                         (0, 0, 1, 0, 0))
        e = lib.us_env_config_default()
        self.assertEqual((e.max_steps, e.leave_prob, e.obs_len, e.mask_repeats), (50, 0.025, 10, 0))
        self.assertEqual((e.leave_gain, e.leave_decay), (0.35, 0.8))

    def test_episode_seed_is_the_c_function(self):
        a = usersim.episode_seed(55, 3, 7)
        self.assertEqual(a, usersim.episode_seed(55, 3, 7))
        self.assertEqual(len({a, usersim.episode_seed(55, 3, 8), usersim.episode_seed(55, 4, 7),
                              usersim.episode_seed(56, 3, 7)}), 4)
        self.assertGreater(max(usersim.episode_seed(1, i, 0) for i in range(8)), 2**63 // 8)


class Gymnasium(unittest.TestCase):
    def check(self, **kwargs):
        env = gymnasium.make(usersim.ENV_ID, **kwargs)
        shown = io.StringIO()  # check_env also makes a "human" env, which prints
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(shown):
            warnings.simplefilter("always")
            check_env(env.unwrapped)
        self.assertIn("user ", shown.getvalue())
        env.close()
        self.assertEqual([str(w.message) for w in caught], [])

    def test_check_env_sasrec_only(self):
        self.check(store=STORE, **SASREC_ONLY)

    def test_check_env_options(self):
        self.check(store=STORE, mode="stochastic", tie="dislike", max_steps=7, leave_prob=0.3,
                   obs_len=0, mask_repeats=True, **SASREC_ONLY)

    def test_check_env_full_ensemble(self):
        if FULL is None:
            self.skipTest("the usersim command has no extract / embed stage")
        self.check(store=FULL)
        self.check(store=FULL, mode="weighted", weights=(1, 2, 0.5), obs_len=3)

    def test_registered_and_module_syntax(self):
        self.assertIn(usersim.ENV_ID, gymnasium.registry)
        env = gymnasium.make("usersim:" + usersim.ENV_ID, store=STORE, max_steps=5, **SASREC_ONLY)
        obs, _ = env.reset(seed=0)
        self.assertIn(obs, env.observation_space)
        env.close()

    def test_make_vec_uses_the_c_vector_env(self):
        v = gymnasium.make_vec(usersim.ENV_ID, num_envs=3, vectorization_mode="vector_entry_point",
                               store=STORE, seed=4, **SASREC_ONLY)
        self.assertIsInstance(v.unwrapped, usersim.UserSimVectorEnv)
        ours = usersim.make_vec(STORE, 3, seed=4, **SASREC_ONLY)
        oa, _ = v.reset()
        ob, _ = ours.reset()
        np.testing.assert_array_equal(oa, ob)
        acts = np.array([1, 2, 3])
        for _ in range(20):
            np.testing.assert_array_equal(v.step(acts)[0], ours.step(acts)[0])
        v.close()
        ours.close()
        # gymnasium's own vectorization over the single env works too.
        sync = gymnasium.make_vec(usersim.ENV_ID, num_envs=2, vectorization_mode="sync",
                                  store=STORE, max_steps=3, **SASREC_ONLY)
        obs, _ = sync.reset(seed=5)
        for _ in range(8):
            obs, *_ = sync.step(sync.action_space.sample())
            self.assertIn(obs, sync.observation_space)
        sync.close()


class Episodes(unittest.TestCase):
    def setUp(self):
        self.env = usersim.make(STORE, **SASREC_ONLY)

    def tearDown(self):
        self.env.close()

    def test_spaces_and_observations(self):
        env = usersim.make(STORE, obs_len=3, leave_prob=0.0, max_steps=6, **SASREC_ONLY)
        self.assertEqual(env.action_space.n, N_ITEMS)
        self.assertEqual(env.observation_space.shape, (7,))
        self.assertEqual(env.observation_space.dtype, np.int32)
        np.testing.assert_array_equal(env.observation_space.low, [0, -1, -1, -1, -1, -1, -1])
        np.testing.assert_array_equal(env.observation_space.high,
                                      [N_USERS - 1, N_ITEMS - 1, 1, N_ITEMS - 1, 1, N_ITEMS - 1, 1])
        obs, info = env.reset(seed=3, options={"user": 12})
        np.testing.assert_array_equal(obs, [12, -1, -1, -1, -1, -1, -1])
        self.assertEqual(info["user"], 12)
        likes = []
        for t, item in enumerate([10, 11, 12, 13, 14, 15]):
            obs, r, term, trunc, info = env.step(np.int64(item))
            self.assertIn(obs, env.observation_space)
            self.assertIsInstance(r, float)
            likes.append(int(r))
            self.assertEqual(info["like"], r == 1.0)
            self.assertEqual((term, trunc), (False, t == 5))
            self.assertEqual((info["item"], info["step"], info["user"]), (item, t + 1, 12))
        np.testing.assert_array_equal(obs, [12, 13, likes[3], 14, likes[4], 15, likes[5]])
        self.assertEqual(env.user, 12)
        self.assertEqual(env.steps, 6)
        env.close()

    def test_same_seed_same_trajectory(self):
        other = usersim.make(STORE, **SASREC_ONLY)
        # The first reset seeds; the next ones, without a seed, continue the same stream.
        traces = []
        for env in (self.env, other):
            acts = np.random.default_rng(9)
            traces.append([episode(env, acts, seed=2024)] + [episode(env, acts) for _ in range(15)])
        for (oa, ia, sa), (ob, ib, sb) in zip(*traces):
            np.testing.assert_array_equal(oa, ob)
            self.assertEqual(ia, ib)
            self.assertTrue(same_steps(sa, sb))
        # Another seed: other users and other episodes.
        acts = np.random.default_rng(9)
        third = [episode(other, acts, seed=2025)] + [episode(other, acts) for _ in range(15)]
        differ = sum(a[1]["user"] != b[1]["user"] or len(a[2]) != len(b[2])
                     for a, b in zip(traces[0], third))
        self.assertGreater(differ, 8)
        # The same seed again starts the same stream over.
        acts = np.random.default_rng(9)
        again = episode(other, acts, seed=2024)
        self.assertTrue(same_steps(again[2], traces[0][0][2]))
        other.close()

    def test_import_without_gymnasium_says_what_is_missing(self):
        # gymnasium is a dependency: without it the import fails, naming it and the fix.
        code = ("import sys\n"
                "sys.modules['gymnasium'] = None\n"
                "import usersim\n")
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.assertNotEqual(p.returncode, 0, p.stdout)
        self.assertIn("ImportError: usersim needs gymnasium", p.stdout)
        self.assertIn("pip install", p.stdout)

    def test_leaving_truncation_and_eval_order(self):
        env = usersim.make(STORE, leave_prob=1.0, max_steps=9, **SASREC_ONLY)
        _, _, steps = episode(env, np.random.default_rng(1), seed=1)
        self.assertEqual(len(steps), 1)
        self.assertEqual(steps[0][2:4], (True, False))
        env.close()
        env = usersim.make(STORE, leave_prob=1.0, max_steps=4, eval_order=True, **SASREC_ONLY)
        for u in range(3):
            _, info, steps = episode(env, np.random.default_rng(1))
            self.assertEqual((info["user"], len(steps), steps[-1][2:4]), (u, 4, (False, True)))
        env.close()

    def test_reset_options_pick_user_and_seed(self):
        raw = self.env._sim.user_raw(17)
        _, info = self.env.reset(options={"user": raw})
        self.assertEqual((info["user"], info["user_raw"]), (17, raw))
        seed = usersim.episode_seed(8, 1, 2)
        a = episode(self.env, np.random.default_rng(3), options={"episode_seed": seed})
        b = episode(self.env, np.random.default_rng(3), seed=99, options={"episode_seed": seed})
        self.assertEqual(a[1], b[1])
        self.assertTrue(same_steps(a[2], b[2]))

    def test_mask_repeats(self):
        env = usersim.make(STORE, mask_repeats=True, leave_prob=0.0, **SASREC_ONLY)
        env.reset(seed=1, options={"user": 0})
        self.assertTrue(env.action_masks().all())
        fresh = min(set(range(N_ITEMS)) - training_items(0))  # not met before
        _, _, _, _, first = env.step(fresh)
        self.assertFalse(first["repeat"])
        self.assertTrue(0.0 <= first["p_sasrec"] <= 1.0)
        self.assertTrue(first["asked"])
        _, r, _, _, info = env.step(fresh)
        self.assertEqual((r, info["repeat"], info["like"], info["asked"]), (0.0, True, False, False))
        # no score for a repeat: -1.0, still a float (one type per key)
        for key in ("score", "p_sasrec", "p_engage", "p_bias", "p_mf"):
            self.assertEqual((type(info[key]), info[key]), (float, -1.0), key)
        self.assertEqual(info["votes"], {"keyword": -1, "embed": -1, "sasrec": -1})
        mask = env.action_masks()
        self.assertEqual((mask.dtype, mask.shape, int(mask.sum()), bool(mask[fresh])),
                         (np.dtype(bool), (N_ITEMS,), N_ITEMS - 1, False))
        env.close()

    def test_info_explains_the_reaction(self):
        env = self.env
        env.reset(seed=4)
        _, r, _, _, info = env.step(5)
        self.assertEqual(info["votes"]["keyword"], -1)
        self.assertEqual(info["votes"]["embed"], -1)
        self.assertEqual(info["votes"]["sasrec"], int(info["p_sasrec"] >= 0.5))
        self.assertEqual(info["like"], info["votes"]["sasrec"] == 1)  # one vote decides
        # the keyword and embedding votes are not used: count -1, score NaN, no words
        self.assertEqual((info["pros_matches"], info["cons_matches"], info["matched_pros"]),
                         (-1, -1, []))
        self.assertEqual((info["pros_sim"], info["cons_sim"]), (-1.0, -1.0))
        self.assertEqual(info["item_raw"], env.item_raw(5))
        self.assertTrue(info["user_raw"] and info["item_raw"])
        if FULL is None:
            return
        full = usersim.make(FULL, leave_prob=0.0, max_steps=50, paper=True)
        full.reset(seed=6)
        matched = 0
        for item in range(N_ITEMS):
            _, r, _, _, info = full.step(item)
            self.assertEqual(r, float(info["like"]))
            v = info["votes"]
            self.assertTrue(all(v[k] in (0, 1) for k in v))
            self.assertEqual(v["sasrec"], int(info["p_sasrec"] >= 0.5))
            if info["pros_matches"] != info["cons_matches"]:  # a tie may go either way
                self.assertEqual(v["keyword"], int(info["pros_matches"] > info["cons_matches"]))
            self.assertEqual(len(info["matched_pros"]), min(info["pros_matches"], 8))
            self.assertEqual(len(info["matched_cons"]), min(info["cons_matches"], 8))
            for word in info["matched_pros"] + info["matched_cons"]:
                self.assertIsInstance(word, str)
                self.assertTrue(word)
            matched += len(info["matched_pros"])
            self.assertTrue(-1.0 <= info["pros_sim"] <= 1.0 and 0.0 <= info["score"] <= 1.0)
        self.assertGreater(matched, 0)  # some keywords match on this store
        full.close()

    def test_render_modes(self):
        env = usersim.make(STORE, render_mode="ansi", **SASREC_ONLY)
        env.reset(seed=1, options={"user": 2})
        env.step(3)
        text = env.render()
        self.assertIn("user 2", text)
        self.assertIn("item 3", text)
        self.assertIn("sasrec", text)
        env.close()
        env = usersim.make(STORE, render_mode="human", **SASREC_ONLY)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            env.reset(seed=1, options={"user": 2})
            env.step(3)
            self.assertIsNone(env.render())
        self.assertIn("item 3", out.getvalue())
        self.assertIn("P(like)", out.getvalue())
        env.close()
        with self.assertRaises(ValueError):
            usersim.make(STORE, render_mode="rgb_array", **SASREC_ONLY)


class Vector(unittest.TestCase):
    def test_equals_single_envs(self):
        self.compare_with_single_envs(4, 55, leave_prob=0.2, max_steps=10, obs_len=3)
        self.compare_with_single_envs(3, 8, leave_prob=0.1, max_steps=6, obs_len=0,
                                      mask_repeats=True, mode="stochastic")

    def compare_with_single_envs(self, n, seed, **opts):
        opts.update(SASREC_ONLY)
        v = usersim.make_vec(STORE, n, threads=2, seed=seed, **opts)
        singles = [usersim.make(STORE, **opts) for _ in range(n)]
        k = [0] * n
        vobs, vinfo = v.reset()
        sobs = []
        for i, env in enumerate(singles):
            o, _ = env.reset(options={"episode_seed": usersim.episode_seed(seed, i, k[i])})
            k[i] += 1
            sobs.append(o)
        np.testing.assert_array_equal(vobs, np.stack(sobs))
        np.testing.assert_array_equal(vinfo["user"], vobs[:, 0])
        acts = np.random.default_rng(10)
        ended = 0
        for _ in range(80):
            a = acts.integers(N_ITEMS, size=n)
            vobs, vr, vt, vu, vinfo = v.step(a)
            self.assertEqual((vobs.dtype, vr.dtype, vt.dtype, vu.dtype),
                             (np.int32, np.float32, np.bool_, np.bool_))
            ended_now = vinfo.get("_final_obs", np.zeros(n, bool))
            self.assertEqual(ended_now.tolist(), (vt | vu).tolist())
            for i, env in enumerate(singles):
                o, r, te, tr, _ = env.step(int(a[i]))
                self.assertEqual((r, te, tr), (float(vr[i]), bool(vt[i]), bool(vu[i])))
                if te or tr:
                    ended += 1
                    np.testing.assert_array_equal(vinfo["final_obs"][i], o)
                    o, _ = env.reset(options={"episode_seed": usersim.episode_seed(seed, i, k[i])})
                    k[i] += 1
                np.testing.assert_array_equal(vobs[i], o)
                self.assertEqual(vinfo["user"][i], env.user)
        self.assertGreater(ended, 20)
        for env in singles:
            env.close()
        v.close()

    def trace(self, threads, seed=123, eval_order=False, steps=120, obs_len=10):
        v = usersim.make_vec(STORE, 9, threads=threads, seed=seed, eval_order=eval_order,
                             leave_prob=0.05, max_steps=12, obs_len=obs_len, **SASREC_ONLY)
        out = [v.reset()[0]]
        acts = np.random.default_rng(2)
        for _ in range(steps):
            o, r, te, tr, info = v.step(acts.integers(N_ITEMS, size=9))
            out += [o, r, te, tr, info["user"]]
        v.close()
        return out

    def test_same_outputs_for_any_thread_count(self):
        for eval_order in (False, True):
            one = self.trace(1, eval_order=eval_order)
            for threads in (2, 5):
                many = self.trace(threads, eval_order=eval_order)
                self.assertTrue(all(np.array_equal(a, b) for a, b in zip(one, many)))
        other = self.trace(1, seed=124)
        self.assertFalse(all(np.array_equal(a, b) for a, b in zip(one, other)))

    def test_eval_order_walks_users(self):
        v = usersim.make_vec(STORE, 3, eval_order=True, leave_prob=1.0, max_steps=2, **SASREC_ONLY)
        obs, _ = v.reset()
        self.assertEqual(obs[:, 0].tolist(), [0, 1, 2])
        for k in range(1, 4):
            for t in range(2):
                obs, _, te, tr, _ = v.step(np.zeros(3, dtype=np.int64))
            self.assertFalse(te.any())
            self.assertTrue(tr.all())
            self.assertEqual(obs[:, 0].tolist(), [3 * k, 3 * k + 1, 3 * k + 2])
        v.close()

    def test_reset_with_and_without_seed(self):
        v = usersim.make_vec(STORE, 5, seed=0, **SASREC_ONLY)
        first, _ = v.reset(seed=31)
        for _ in range(30):
            v.step(np.ones(5, dtype=np.int32))
        later, _ = v.reset()  # every env's next episode, not the first again
        self.assertFalse(np.array_equal(first, later))
        again, _ = v.reset(seed=31)
        np.testing.assert_array_equal(first, again)
        self.assertEqual(first[:, 0].tolist(), [
            usersim.make(STORE, **SASREC_ONLY).reset(options={
                "episode_seed": usersim.episode_seed(31, i, 0)})[1]["user"] for i in range(5)])
        with self.assertRaises(ValueError):
            v.reset(seed=[1, 2, 3, 4, 5])
        v.close()

    def test_returned_arrays_are_not_reused(self):
        v = usersim.make_vec(STORE, 4, leave_prob=0.5, **SASREC_ONLY)
        first = v.reset(seed=3)
        kept = [first[0].copy()]
        outs = [v.step(np.array([1, 2, 3, 4])) for _ in range(6)]
        for out in outs:
            kept.append([x.copy() for x in out[:4]])
        self.assertTrue(np.array_equal(first[0], kept[0]))
        for out, copy in zip(outs, kept[1:]):
            self.assertTrue(all(np.array_equal(a, b) for a, b in zip(out[:4], copy)))
        v.close()

    def test_spaces(self):
        v = usersim.make_vec(STORE, 6, obs_len=2, **SASREC_ONLY)
        self.assertEqual(v.num_envs, 6)
        self.assertEqual(v.single_action_space.n, N_ITEMS)
        self.assertEqual(v.action_space.shape, (6,))
        self.assertEqual(v.observation_space.shape, (6, 5))
        self.assertEqual(v.metadata["autoreset_mode"], gymnasium.vector.AutoresetMode.SAME_STEP)
        obs, _ = v.reset(seed=1)
        self.assertIn(obs, v.observation_space)
        for _ in range(40):
            obs, *_ = v.step(v.action_space.sample())
            self.assertIn(obs, v.observation_space)
        v.close()


class Ownership(unittest.TestCase):
    """An object holding a C handle frees it exactly once: copying or pickling one is refused
    with a TypeError (a shallow copy would share the handle, and collecting the copy would free
    it under the original), and the refused attempt leaves the original working."""

    def assert_refused(self, obj):
        attempts = [copy.copy, copy.deepcopy]
        attempts += [lambda o, p=p: pickle.dumps(o, protocol=p)
                     for p in range(pickle.HIGHEST_PROTOCOL + 1)]
        for attempt in attempts:
            with self.assertRaisesRegex(TypeError, "cannot be copied or pickled"):
                attempt(obj)
        gc.collect()

    def test_env_refuses_copies_and_still_works(self):
        base = _sim.shared_count()
        env = usersim.make(STORE, max_steps=8, leave_prob=0.0, **SASREC_ONLY)
        env.reset(seed=4)
        self.assert_refused(env)
        self.assert_refused(env._sim)
        ref = usersim.make(STORE, max_steps=8, leave_prob=0.0, **SASREC_ONLY)
        for e in (env, ref):
            e.reset(seed=5)
        for item in (1, 2, 3, 1):
            got, want = env.step(item), ref.step(item)
            np.testing.assert_array_equal(got[0], want[0])
            self.assertEqual(got[1:4], want[1:4])
        self.assertEqual(env.action_masks().tolist(), ref.action_masks().tolist())
        env.close()
        ref.close()
        self.assertEqual(_sim.shared_count(), base)

    def test_vector_env_refuses_copies_and_still_works(self):
        base = _sim.shared_count()
        v = usersim.make_vec(STORE, 3, threads=2, seed=6, max_steps=5, **SASREC_ONLY)
        v.reset()
        self.assert_refused(v)
        ref = usersim.make_vec(STORE, 3, threads=2, seed=6, max_steps=5, **SASREC_ONLY)
        np.testing.assert_array_equal(v.reset(seed=7)[0], ref.reset(seed=7)[0])
        acts = np.random.default_rng(3)
        for _ in range(12):
            a = acts.integers(N_ITEMS, size=3)
            for x, y in zip(v.step(a)[:4], ref.step(a)[:4]):
                np.testing.assert_array_equal(x, y)
        v.close()
        ref.close()
        self.assertEqual(_sim.shared_count(), base)


class VectorSize(unittest.TestCase):
    """The number of envs and threads is checked in Python before anything is opened (a Python
    int is never cut down to a C int), and against the C library's memory limit, with the
    estimate in the message."""

    def test_too_many_envs_are_refused_with_the_estimate(self):
        lib = _lib.load()
        cfg = lib.us_env_config_default()
        each = lib.us_env_bytes_estimate(ctypes.byref(cfg))
        limit = _lib.US_VECENV_MAX_BYTES // each
        self.assertGreater(limit, 1000)
        base = _sim.shared_count()
        missing = os.path.join(WORK, "not-there.usdb")  # refused before the store is opened
        for n in (limit + 1, 10**6, 2**31, 2**32 + 2, 2**64 + 1):
            for store in (STORE, missing):
                with self.assertRaises(ValueError) as e:
                    usersim.make_vec(store, n, **SASREC_ONLY)
                msg = str(e.exception)
                self.assertIn(f"found {n}", msg)
                self.assertIn(f"about {n * each:,} bytes", msg)
                self.assertIn(f"1..{limit}", msg)
                self.assertNotIn("found -", msg)
        self.assertEqual(_sim.shared_count(), base)
        # the limit shrinks as episodes grow (every env holds max_steps steps)
        cfg.max_steps = 100000
        big = lib.us_env_bytes_estimate(ctypes.byref(cfg))
        with self.assertRaisesRegex(ValueError, f"1..{_lib.US_VECENV_MAX_BYTES // big} "):
            usersim.make_vec(missing, _lib.US_VECENV_MAX_BYTES // big + 1, max_steps=100000)
        # the C library draws the same line
        sim = _sim.acquire(STORE, SASREC_ONLY)
        try:
            ptr, err = ctypes.c_void_p(), _lib.us_err()
            cfg = lib.us_env_config_default()
            st = lib.us_vecenv_init(ctypes.byref(ptr), sim.ptr, ctypes.byref(cfg), limit + 1, 1,
                                    0, 0, ctypes.byref(err))
            self.assertEqual((st, ptr.value, err.field), (-1, None, b"n"))  # US_EINVAL
            self.assertIn(f"about {(limit + 1) * each} bytes".encode(), err.msg)
        finally:
            _sim.release(sim)
        v = usersim.make_vec(STORE, 2, **SASREC_ONLY)
        self.assertEqual(v.num_envs, 2)
        v.close()

    def test_threads_are_never_cut_down(self):
        for threads in (1025, 2**32 + 1, 2**31):
            with self.assertRaisesRegex(ValueError, f"threads must be .*1024, found {threads}"):
                usersim.make_vec(STORE, 2, threads=threads, **SASREC_ONLY)


class Errors(unittest.TestCase):
    def test_missing_store_raises_the_c_message(self):
        path = os.path.join(WORK, "nowhere.usdb")
        with self.assertRaises(usersim.UserSimError) as e:
            usersim.make(path)
        self.assertIn(path, str(e.exception))
        self.assertIn("no such store", str(e.exception))
        self.assertEqual(e.exception.code, -6)  # US_ENOTFOUND
        self.assertEqual(e.exception.file, path)
        with self.assertRaises(usersim.UserSimError):
            usersim.make_vec(path, 2)

    def test_missing_stage_names_the_command(self):
        base = _sim.shared_count()
        with self.assertRaises(usersim.UserSimError) as e:
            usersim.make(STORE)  # the keyword vote needs its stage, which `usersim build` makes
        self.assertIn("usersim build", str(e.exception))
        self.assertIn("extract", str(e.exception))
        self.assertEqual(_sim.shared_count(), base)

    def test_bad_options(self):
        base = _sim.shared_count()
        with self.assertRaises(usersim.UserSimError) as e:
            usersim.make(STORE, leave_prob=1.5, **SASREC_ONLY)
        self.assertEqual(e.exception.field, "leave_prob")
        self.assertIn("1.5", str(e.exception))
        with self.assertRaises(usersim.UserSimError) as e:
            usersim.make(STORE, obs_len=257, **SASREC_ONLY)
        self.assertEqual(e.exception.field, "obs_len")
        with self.assertRaises(usersim.UserSimError) as e:
            usersim.make(STORE, use_keyword=False, use_embed=False, use_sasrec=False)
        self.assertEqual(e.exception.field, "use")
        with self.assertRaises(TypeError):
            usersim.make(STORE, max_step=3)
        with self.assertRaises(ValueError):
            usersim.make(STORE, mode="loud", **SASREC_ONLY)
        with self.assertRaises(ValueError):
            usersim.make(STORE, weights=(1, 2), **SASREC_ONLY)
        with self.assertRaises(ValueError):
            usersim.make_vec(STORE, 0, **SASREC_ONLY)
        self.assertEqual(_sim.shared_count(), base)

    def test_bad_calls_raise_instead_of_aborting(self):
        env = usersim.make(STORE, leave_prob=1.0, **SASREC_ONLY)
        with self.assertRaises(RuntimeError):
            env.step(0)  # no episode yet
        env.reset(seed=0)
        for bad in (-1, N_ITEMS, 2.0, "3", True, None):
            with self.assertRaises(ValueError):
                env.step(bad)
        env.step(0)  # the user leaves (leave_prob 1)
        with self.assertRaises(RuntimeError):
            env.step(0)
        for bad in ({"user": N_USERS}, {"user": -1}, {"user": "no-such-user"}, {"colour": 1},
                    {"episode_seed": -1}):
            with self.assertRaises(ValueError):
                env.reset(options=bad)
        env.close()
        env.close()  # twice is fine
        with self.assertRaises(RuntimeError):
            env.reset()
        v = usersim.make_vec(STORE, 3, **SASREC_ONLY)
        with self.assertRaises(RuntimeError):
            v.step(np.zeros(3, dtype=np.int32))
        v.reset()
        for bad in (np.zeros(2, int), np.array([0, 1, N_ITEMS]), np.array([0, -1, 0]),
                    np.zeros(3, float), np.array([0, 1, 2**33])):
            with self.assertRaises(ValueError):
                v.step(bad)
        v.step([0, 1, 2])
        v.close()
        v.close()

    def test_library_not_found(self):
        missing = os.path.join(WORK, "no", "libusersim.so")
        code = ("import usersim\n"
                "try:\n    usersim.make('x.usdb')\n"
                "except usersim.LibraryNotFound as e:\n    print(e)\n")
        envv = dict(os.environ, USERSIM_LIB=missing)
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, env=envv)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn(missing, p.stdout)
        self.assertIn("USERSIM_LIB", p.stdout)


class Thresholds(unittest.TestCase):
    def test_calibrate_fits_the_sasrec_threshold(self):
        base = _sim.shared_count()
        plain = usersim.make(STORE, **SASREC_ONLY)
        self.assertEqual(plain.thresholds, (0.0, 0.0, 0.5))
        env = usersim.make(STORE, calibrate=True, **SASREC_ONLY)
        self.assertIsNot(env._sim, plain._sim)
        self.assertEqual(env.thresholds[:2], (0.0, 0.0))  # votes not in use keep theirs
        # the same threshold as eval-sim --calibrate reports
        out = json.loads(run_cli("eval-sim", STORE, "--no-keyword", "--no-embed", "--calibrate",
                                 "--random-steps", "0", "--json"))
        self.assertAlmostEqual(out["thresholds"]["sasrec"], env.thresholds[2], places=6)
        self.assertGreater(out["calibration"]["n_valid"], 0)
        env.reset(seed=0)
        t = env.thresholds[2]
        for item in range(N_ITEMS):
            _, _, te, tr, info = env.step(item)
            if info["votes"]["sasrec"] >= 0:
                self.assertEqual(info["votes"]["sasrec"], int(info["p_sasrec"] >= t))
            if te or tr:
                env.reset()
        v = usersim.make_vec(STORE, 2, calibrate=True, **SASREC_ONLY)
        self.assertIs(v._sim, env._sim)
        self.assertEqual(v.thresholds, env.thresholds)
        for e in (plain, env, v):
            e.close()
        self.assertEqual(_sim.shared_count(), base)

    def test_thresholds_option(self):
        env = usersim.make(STORE, thresholds=(1, -0.25, 0.7), **SASREC_ONLY)
        self.assertEqual(env.thresholds, (1.0, -0.25, np.float32(0.7)))
        env.reset(seed=3)
        for item in range(N_ITEMS):
            _, reward, te, tr, info = env.step(item)
            if not info["repeat"]:
                self.assertEqual(reward, float(info["p_sasrec"] >= np.float32(0.7)))
            if te or tr:
                env.reset()
        env.close()
        for bad in (dict(thresholds=(0, 0)), dict(thresholds=(0, 0, float("nan"))),
                    dict(thresholds=(0, "a", 0)), dict(calibrate="yes")):
            with self.assertRaises(ValueError):
                usersim.make(STORE, **bad, **SASREC_ONLY)


class Reaction(unittest.TestCase):
    """The default reaction: choose, then the fitted judge; known items earn no like."""

    def test_choose_then_judge_in_the_info(self):
        env = usersim.make(STORE, leave_prob=0.0, max_steps=N_ITEMS, **DEFAULT_SASREC)
        env.reset(seed=2, options={"user": 0})
        known = training_items(0)
        engaged = 0
        for item in range(N_ITEMS):
            _, r, _, _, info = env.step(item)
            if item in known:
                # a training item: a repeat with its logged label, never a like
                self.assertEqual((r, info["repeat"], info["like"], info["p_reward"]),
                                 (0.0, True, False, 0.0))
                self.assertIn(info["logged"], (0, 1))
                continue
            self.assertFalse(info["repeat"])
            self.assertTrue(0.0 < info["p_engage"] < 1.0)
            self.assertTrue(0.0 < info["score"] < 1.0)
            self.assertEqual(r, float(info["engage"] and info["judged"]))
            self.assertAlmostEqual(info["p_reward"], info["p_engage"] * info["score"], places=6)
            self.assertTrue(0.0 < info["p_bias"] < 1.0 and 0.0 < info["p_mf"] < 1.0)
            engaged += info["engage"]
        self.assertGreater(engaged, 0)
        env.close()

    def test_the_paper_option_and_bad_values(self):
        env = usersim.make(STORE, **SASREC_ONLY)
        env.reset(seed=2)
        _, r, _, _, info = env.step(3)
        self.assertEqual((info["engage"], info["p_engage"]), (True, 1.0))
        self.assertEqual(info["p_bias"], -1.0)  # the paper's judge has no bias part
        env.close()
        for bad in (dict(choose="yes"), dict(mf_factors=0), dict(engage_negatives=1000),
                    dict(leave_decay=1.0), dict(seed=-1)):
            with self.assertRaises((ValueError, usersim.UserSimError)):
                usersim.make(STORE, **bad, **DEFAULT_SASREC)


class Sharing(unittest.TestCase):
    def test_one_sim_per_store_and_config(self):
        base = _sim.shared_count()
        a = usersim.make(STORE, **SASREC_ONLY)
        b = usersim.make(STORE, max_steps=3, **SASREC_ONLY)  # env options do not matter
        v = usersim.make_vec(STORE, 4, **SASREC_ONLY)
        self.assertIs(a._sim, b._sim)
        self.assertIs(a._sim, v._sim)
        self.assertEqual(_sim.shared_count(), base + 1)
        c = usersim.make(STORE, tie="dislike", **SASREC_ONLY)
        self.assertIsNot(c._sim, a._sim)
        self.assertEqual(_sim.shared_count(), base + 2)
        # every field tells sims apart: the default reaction is not the paper's
        d = usersim.make(STORE, **DEFAULT_SASREC)
        e = usersim.make(STORE, choose=False, **DEFAULT_SASREC)
        self.assertEqual(len({id(a._sim), id(d._sim), id(e._sim)}), 3)
        self.assertEqual(_sim.shared_count(), base + 4)
        for env in (a, b, v, d, e):
            env.close()
        self.assertEqual(_sim.shared_count(), base + 1)
        c.close()
        self.assertEqual(_sim.shared_count(), base)
        # Collected without close(): released by the finalizer.
        usersim.make(STORE, **SASREC_ONLY).reset(seed=1)
        self.assertEqual(_sim.shared_count(), base)


class InfoTypes(unittest.TestCase):
    """Every info key has one type, whatever the reaction: gymnasium's sync vector env makes
    each batched info array from the first env's value, which crashed when a later env gave
    None where the first gave an int (a repeat's keyword counts)."""

    def test_sync_vector_env_batches_infos_through_repeats(self):
        if FULL is None:
            self.skipTest("the usersim command has no extract / embed stage")
        # the default reaction, every vote: an item of the user's training history is a
        # repeat, not asked
        sync = gymnasium.make_vec(usersim.ENV_ID, num_envs=4, vectorization_mode="sync",
                                  store=FULL, max_steps=20)
        sync.reset(seed=3)
        rng = np.random.default_rng(0)
        mixed = out_of_range = 0
        for _ in range(150):
            _, _, _, _, infos = sync.step(rng.integers(0, N_ITEMS, size=4))
            if "score" not in infos:
                continue
            here = infos["_score"]  # envs that stepped (not resetting) this call
            rep = infos["repeat"][here]
            self.assertEqual(infos["score"].dtype, np.float64)
            self.assertEqual(infos["pros_matches"].dtype, np.int64)
            self.assertEqual(infos["asked"].dtype, np.bool_)
            score = infos["score"][here]
            np.testing.assert_array_equal(score == -1.0, rep)  # -1.0 exactly for repeats
            np.testing.assert_array_equal(infos["asked"][here], ~rep)
            np.testing.assert_array_equal(infos["pros_matches"][here] == -1, rep)
            mixed += bool(rep.any() and (~rep).any())
            out_of_range += int(((score[~rep] < 0) | (score[~rep] > 1)).sum())
        sync.close()
        self.assertGreater(mixed, 5)  # repeats and asked items met in one batch, both orders
        self.assertEqual(out_of_range, 0)

    def test_one_type_per_key(self):
        if FULL is None:
            self.skipTest("the usersim command has no extract / embed stage")
        env = usersim.make(FULL, leave_prob=0.0, max_steps=N_ITEMS)
        env.reset(seed=1, options={"user": 0})
        types = {}
        for item in range(N_ITEMS):
            info = env.step(item)[4]
            for k, v in info.items():
                types.setdefault(k, set()).add(type(v))
        env.close()
        self.assertEqual({k: len(t) for k, t in types.items() if len(t) > 1}, {})
        self.assertIs(next(iter(types["score"])), float)


def store_rows(path, sql, *args):
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(sql, args).fetchall()


class ItemFeatures(unittest.TestCase):
    def setUp(self):
        if FULL is None:
            self.skipTest("the usersim command has no extract / embed stage")

    def test_contents_match_the_store_and_the_info(self):
        env = usersim.make(FULL)
        f = env.item_features()
        V = N_ITEMS
        vec, cons, has = f["vectors"], f["cons_vectors"], f["has_vector"]
        D = vec.shape[1]
        self.assertEqual((vec.shape, cons.shape, has.shape), ((V, D), (V, D), (V, 2)))
        self.assertEqual((vec.dtype, has.dtype), (np.float32, np.bool_))
        # rows: the store's vectors, L2-normalized (as the simulator loads them), zeros where none
        stored = {(i, side): np.frombuffer(b, dtype="<f4") for i, side, b in
                  store_rows(FULL, "SELECT item, side, vec FROM item_vec")}
        for i in range(V):
            for side, m in ((0, vec), (1, cons)):
                x = stored.get((i, side))
                ok = x is not None and np.any(x != 0)
                self.assertEqual(bool(has[i, side]), ok)
                want = x / np.linalg.norm(x.astype(np.float64)) if ok else np.zeros(D)
                np.testing.assert_allclose(m[i], want, atol=1e-6)
        self.assertGreater(int(has.sum()), V)
        # titles from the items table
        titles = dict(store_rows(FULL, "SELECT id, COALESCE(title, '') FROM items"))
        self.assertEqual(f["title"], [titles[i] for i in range(V)])
        # keywords: CSR runs equal to the item_keyword table, texts from keyword
        words = dict(store_rows(FULL, "SELECT id, text FROM keyword"))
        for side, name in enumerate(("pros", "cons")):
            indptr, ids = f[name + "_indptr"], f[name + "_ids"]
            self.assertEqual((indptr.dtype, ids.dtype, len(indptr)), (np.uint32, np.uint32, V + 1))
            for i in range(V):
                got = [f["keywords"][k] for k in ids[indptr[i]:indptr[i + 1]]]
                want = [words[k] for (k,) in store_rows(
                    FULL, "SELECT keyword FROM item_keyword WHERE item = ? AND side = ? "
                    "ORDER BY keyword", i, side)]
                self.assertEqual(got, want)
        self.assertGreater(len(f["pros_ids"]), 0)
        # categories: as the info names them
        env.reset(seed=2)
        for item in range(6):
            info = env.step(item)[4]
            c = f["category"][item]
            self.assertEqual(info["category"], f["category_names"][c] if c >= 0 else "")
        self.assertGreater(len(f["category_names"]), 0)
        env.close()

    def test_zero_copy_read_only_and_alive_after_close(self):
        base = _sim.shared_count()
        env = usersim.make(FULL)
        a, b = env.item_features(), env.item_features()
        self.assertTrue(np.shares_memory(a["vectors"], b["vectors"]))  # the sim's, not copies
        self.assertTrue(np.may_share_memory(a["vectors"], a["cons_vectors"]))  # interleaved
        for key in ("vectors", "has_vector", "category", "pros_indptr", "pros_ids"):
            self.assertFalse(a[key].flags.writeable, key)
            with self.assertRaises(ValueError):
                a[key][0] = 0
        first = np.array(a["vectors"][:3])
        env.close()
        del b
        gc.collect()
        # the views keep the simulator open after the env is gone...
        self.assertEqual(_sim.shared_count(), base + 1)
        np.testing.assert_array_equal(a["vectors"][:3], first)
        keep = a["category"]
        del a
        gc.collect()
        self.assertEqual(_sim.shared_count(), base + 1)
        del keep
        gc.collect()
        # ...and the last one closes it
        self.assertEqual(_sim.shared_count(), base)

    def test_without_vectors_or_keywords(self):
        env = usersim.make(STORE, **SASREC_ONLY)
        f = env.item_features()
        self.assertIsNone(f["vectors"])
        self.assertEqual(f["pros_ids"].shape, (0,))
        np.testing.assert_array_equal(f["pros_indptr"], np.zeros(N_ITEMS + 1))
        self.assertEqual(len(f["title"]), N_ITEMS)
        env.close()
        v = usersim.make_vec(FULL, 2)
        self.assertEqual(v.item_features()["vectors"].shape[0], N_ITEMS)
        v.close()


class FeatureObservation(unittest.TestCase):
    def setUp(self):
        if FULL is None:
            self.skipTest("the usersim command has no extract / embed stage")

    def stub(self, user, vec, has):
        """The user stub (env/env.h) recomputed from the store: the mean pros vector of the
        user's liked training items that have one."""
        liked = [i for (i,) in store_rows(FULL, "SELECT item FROM interactions WHERE user = ? "
                                          "AND split = 0 AND label = 1", user) if has[i, 0]]
        return vec[liked].astype(np.float64).mean(axis=0) if liked else np.zeros(vec.shape[1])

    def test_contents_and_space(self):
        K = 3
        env = usersim.make(FULL, observation="features", obs_len=K, leave_prob=0.0, max_steps=8)
        ids = usersim.make(FULL, obs_len=K, leave_prob=0.0, max_steps=8)  # same world, int32
        f = env.item_features()
        vec, has = f["vectors"], f["has_vector"]
        D = vec.shape[1]
        F = D + K * (D + 1)
        self.assertEqual((env.observation_space.shape, env.observation_space.dtype),
                         ((F,), np.float32))
        rng = np.random.default_rng(5)
        for user in (0, 7, 31):
            obs, _ = env.reset(seed=user, options={"user": user})
            iobs, _ = ids.reset(seed=user, options={"user": user})
            self.assertIn(obs, env.observation_space)
            np.testing.assert_allclose(obs[:D], self.stub(user, vec, has), atol=1e-6)
            self.assertFalse(obs[D:].any())
            stub = obs[:D].copy()
            done = False
            while not done:
                a = int(rng.integers(N_ITEMS))
                obs, r, term, trunc, _ = env.step(a)
                iobs, ir, *_ = ids.step(a)
                self.assertEqual(r, ir)
                done = term or trunc
                self.assertIn(obs, env.observation_space)
                np.testing.assert_array_equal(obs[:D], stub)
                for k in range(K):
                    item, like = iobs[1 + 2 * k], iobs[2 + 2 * k]
                    pair = obs[D + k * (D + 1):D + (k + 1) * (D + 1)]
                    if item < 0:
                        self.assertFalse(pair.any())
                    else:
                        np.testing.assert_array_equal(pair[:D], vec[item])
                        self.assertEqual(pair[D], 1.0 if like else -1.0)
        env.close()
        ids.close()

    def test_vector_env_equals_single_envs(self):
        K, n, seed = 2, 3, 21
        v = usersim.make_vec(FULL, n, threads=2, seed=seed, observation="features", obs_len=K,
                             max_steps=6, leave_prob=0.1)
        singles = [usersim.make(FULL, observation="features", obs_len=K, max_steps=6,
                                leave_prob=0.1) for _ in range(n)]
        self.assertEqual(v.single_observation_space, singles[0].observation_space)
        obs, infos = v.reset()
        k = [0] * n
        for i, e in enumerate(singles):
            o, _ = e.reset(options={"user": int(infos["user"][i]),
                                    "episode_seed": usersim.episode_seed(seed, i, 0)})
            np.testing.assert_array_equal(o, obs[i])
        rng = np.random.default_rng(1)
        finals = 0
        for _ in range(40):
            a = rng.integers(0, N_ITEMS, size=n)
            obs, rew, term, trunc, infos = v.step(a)
            for i, e in enumerate(singles):
                o, r, t, u, _ = e.step(int(a[i]))
                self.assertEqual((r, t, u), (rew[i], term[i], trunc[i]))
                if t or u:
                    finals += 1
                    np.testing.assert_array_equal(infos["final_obs"][i], o)
                    k[i] += 1
                    o, _ = e.reset(options={"user": int(infos["user"][i]),
                                            "episode_seed": usersim.episode_seed(seed, i, k[i])})
                np.testing.assert_array_equal(o, obs[i])
        self.assertGreater(finals, 3)
        v.close()
        for e in singles:
            e.close()

    def test_gymnasium_checks_and_errors(self):
        env = gymnasium.make(usersim.ENV_ID, store=FULL, observation="features", obs_len=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            check_env(env.unwrapped)
        self.assertEqual([str(w.message) for w in caught], [])
        env.close()
        base = _sim.shared_count()
        with self.assertRaisesRegex(ValueError, "usersim embed"):
            usersim.make(STORE, observation="features", **SASREC_ONLY)
        with self.assertRaisesRegex(ValueError, "usersim embed"):
            usersim.make_vec(FULL, 2, observation="features", use_embed=False)
        with self.assertRaisesRegex(ValueError, "observation must be one of"):
            usersim.make(FULL, observation="floats")
        gc.collect()
        self.assertEqual(_sim.shared_count(), base)  # nothing left open by the failures


def link_dependencies(wheel, site):
    """Links every distribution the wheel named wheel requires, and what those require in
    turn (as installed in this environment), into the folder site, each by its top-level
    entries (packages, modules, .dist-info); returns the names linked. Requirements for
    extras, and ones this environment lacks (a marker excluded them here), are left out."""
    from importlib import metadata

    with zipfile.ZipFile(wheel) as z:
        [meta] = [f for f in z.namelist() if f.endswith(".dist-info/METADATA")]
        text = z.read(meta).decode()
    todo = [line.split(":", 1)[1] for line in text.splitlines() if line.startswith("Requires-Dist:")]
    done = set()
    while todo:
        req = todo.pop()
        if "extra ==" in req:
            continue
        name = re.match(r"\s*([A-Za-z0-9._-]+)", req).group(1).lower().replace("_", "-")
        if name in done:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        done.add(name)
        todo += dist.requires or []
        base = dist.locate_file("")
        for top in {str(f).split("/")[0] for f in dist.files or [] if not str(f).startswith("..")}:
            src, dst = os.path.join(base, top), os.path.join(site, top)
            if os.path.exists(src) and not os.path.lexists(dst):
                os.symlink(src, dst)
    return done


class Install(unittest.TestCase):
    """The package a user installs: a wheel built from env/python the way `make wheel` builds
    it, installed into a fresh virtual environment, imports and runs from an unrelated folder
    with USERSIM_LIB unset, on the library it carries."""

    def test_wheel_bundles_the_library(self):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        lib = os.environ.get("USERSIM_LIB", "")
        if not lib:
            self.skipTest("USERSIM_LIB not set (make test sets it)")
        top = tempfile.mkdtemp(prefix="install-", dir=WORK)
        wheels, venv, elsewhere = (os.path.join(top, d) for d in ("wheels", "venv", "cwd"))
        os.mkdir(elsewhere)
        quiet = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1")
        quiet.pop("USERSIM_LIB")
        quiet.pop("PYTHONPATH", None)

        def run(*cmd, **kw):
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=kw.pop("env", quiet), **kw)
            self.assertEqual(p.returncode, 0, f"{' '.join(cmd)}:\n{p.stdout[-4000:]}")
            return p.stdout

        # The library make test built is reused (its build folder), so make has nothing to do.
        build = dict(quiet, USERSIM_BUILD=os.path.dirname(os.path.abspath(lib)))
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
            "--no-index", "-w", wheels, os.path.join(root, "env", "python"), env=build)
        [name] = os.listdir(wheels)
        self.assertTrue(name.startswith("usersim-") and name.endswith(".whl"), name)
        self.assertNotIn("-any.whl", name)  # machine code inside: tagged for this platform
        with zipfile.ZipFile(os.path.join(wheels, name)) as z:
            self.assertIn("usersim/libusersim.so", z.namelist())

        # A bare environment with the wheel's dependencies (numpy, gymnasium and theirs) linked
        # in from this one, then the wheel installed by this environment's pip with its
        # dependencies checked, offline: nothing is downloaded.
        run(sys.executable, "-m", "venv", "--without-pip", venv)
        py = os.path.join(venv, "bin", "python")
        site = run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
        linked = link_dependencies(os.path.join(wheels, name), site)
        self.assertIn("gymnasium", linked)
        self.assertIn("numpy", linked)
        run(sys.executable, "-m", "pip", "--python", py, "install", "--no-index",
            os.path.join(wheels, name))

        code = ("import sys, usersim\n"
                "env = usersim.make(sys.argv[1], use_keyword=False, use_embed=False, paper=True)\n"
                "obs, info = env.reset(seed=0)\n"
                "obs, reward, terminated, truncated, info = env.step(0)\n"
                "print(usersim.__file__)\n"
                "print(usersim._lib.load()._name)\n"
                "print(env.action_space.n)\n")
        out = run(py, "-I", "-c", code, STORE, cwd=elsewhere).splitlines()
        pkg = os.path.dirname(out[-3])
        self.assertTrue(os.path.realpath(pkg).startswith(os.path.realpath(venv) + os.sep), pkg)
        self.assertEqual(os.path.realpath(out[-2]),
                         os.path.realpath(os.path.join(pkg, "libusersim.so")))
        self.assertEqual(int(out[-1]), N_ITEMS)  # the store opened, through that library


class Agents(unittest.TestCase):
    """usersim.evaluate and usersim.ab: baselines by name and Python callables as policies,
    common random numbers, and errors inside a callable surfacing in Python."""

    def test_ab_of_a_callable_against_a_baseline(self):
        calls = []

        def first_unmet(obs):
            """The lowest item id not yet recommended in the session."""
            calls.append(obs.shape)
            out = np.empty(len(obs), dtype=np.int64)
            for k, row in enumerate(obs):
                met = set(row[1::2][row[1::2] >= 0].tolist())
                out[k] = next(i for i in range(N_ITEMS) if i not in met)
            return out

        r = usersim.ab(STORE, first_unmet, "oracle", users=120, population="all",
                       max_steps=8, **SASREC_ONLY)
        self.assertEqual(r["users"], 120)
        self.assertTrue(calls and all(b <= 16 and w == 1 + 2 * 8 for b, w in calls))
        self.assertGreater(r["b"]["return"]["mean"], r["a"]["return"]["mean"])
        self.assertAlmostEqual(r["b_minus_a"]["return"]["mean"],
                               r["b"]["return"]["mean"] - r["a"]["return"]["mean"], places=9)
        self.assertLess(r["p_value"], 0.05)
        self.assertTrue(1 <= r["users_needed"] < 1e6)
        # A/A with the same callable: not a single user differs
        aa = usersim.ab(STORE, first_unmet, first_unmet, users=60, population="all",
                        max_steps=8, **SASREC_ONLY)
        self.assertEqual(aa["b_minus_a"]["return"]["mean"], 0.0)
        self.assertEqual(aa["p_value"], 1.0)
        self.assertEqual(aa["users_needed"], float("inf"))

    def test_evaluate_names_and_callables_share_the_world(self):
        a = usersim.evaluate(STORE, "random", episodes=80, population="all", **SASREC_ONLY)
        b = usersim.evaluate(STORE, "random", episodes=80, population="all", threads=2,
                             **SASREC_ONLY)
        self.assertTrue(np.array_equal(a["per_user_return"], b["per_user_return"]))
        for key in ("avg_reward", "total_reward", "liking_pct", "length", "coverage_pct",
                    "novelty_pct"):
            self.assertEqual(set(a[key]), {"mean", "ci95"})
        self.assertAlmostEqual(a["total_reward"]["mean"], a["per_user_return"].mean(), places=9)
        # held-out users by default, fewer than all
        h = usersim.evaluate(STORE, "popular", episodes=20, **SASREC_ONLY)
        self.assertEqual(h["episodes"], 20)

    def test_errors_in_a_callable_reach_python(self):
        def broken(obs):
            raise KeyError("inside the recommender")

        with self.assertRaises(KeyError):
            usersim.ab(STORE, "random", broken, users=10, population="all", **SASREC_ONLY)
        with self.assertRaisesRegex(ValueError, "integer item ids"):
            usersim.evaluate(STORE, lambda obs: np.zeros(3), episodes=10, **SASREC_ONLY)
        with self.assertRaisesRegex(ValueError, "out of range"):
            usersim.evaluate(STORE, lambda obs: np.full(len(obs), N_ITEMS), episodes=10,
                             **SASREC_ONLY)
        with self.assertRaises(usersim.UserSimError) as e:
            usersim.evaluate(STORE, "bestseller", episodes=10, **SASREC_ONLY)
        self.assertEqual(e.exception.field, "policy")
        with self.assertRaises(TypeError):
            usersim.evaluate(STORE, 42, episodes=10, **SASREC_ONLY)


class Speed(unittest.TestCase):
    """Figures for the log, never asserted."""

    def test_print_steps_per_second(self):
        env = usersim.make(STORE, **SASREC_ONLY)
        env.reset(seed=0)
        items = np.random.default_rng(0).integers(N_ITEMS, size=20000).tolist()
        t = time.perf_counter()
        for item in items:
            _, _, te, tr, _ = env.step(item)
            if te or tr:
                env.reset()
        single = len(items) / (time.perf_counter() - t)
        env.close()
        v = usersim.make_vec(STORE, 256, threads=2, **SASREC_ONLY)
        v.reset(seed=0)
        acts = np.random.default_rng(0).integers(N_ITEMS, size=(200, 256))
        t = time.perf_counter()
        for a in acts:
            v.step(a)
        vec = acts.size / (time.perf_counter() - t)
        v.close()
        print(f"\nspeed: single env {single:,.0f} steps/s (info dict included); "
              f"vector env 256 envs, 2 threads {vec:,.0f} steps/s", file=sys.stderr)


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    sys.exit(0 if result.wasSuccessful() else 1)
