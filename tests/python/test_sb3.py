"""stable-baselines3 against usersim. With no glue code: SB3's own env checker accepts
usersim.make(), PPO("MlpPolicy") and DQN("MlpPolicy") train on it as it is (the observation is
a flat int32 Box, which SB3's MlpPolicy takes as floats), and a trained model is then compared
with the baselines through usersim.evaluate, its predict() as the policy. Through usersim.sb3
(the C vector env as an SB3 VecEnv): the same trajectories as usersim.make_vec, terminal
observations that a single env replaying the episode ends on, SB3's VecEnv wrappers on top,
and PPO training through it to beat the random policy.

Run by tests/env/test_python.c (make test) with the Python of build/rlenv
(scripts/pyenv.sh with USERSIM_PY_EXTRA="stable-baselines3 sb3-contrib"). Prints "figure:"
lines the C runner shows.
"""
import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import usersim

BIN = os.environ.get("USERSIM_BIN", "")
WORK = os.environ.get("USERSIM_TEST_DIR") or tempfile.mkdtemp(prefix="usersim-sb3-")
STORE = os.path.join(WORK, "sb3.usdb")
# a short session, with the whole of it in the observation
OPTS = dict(max_steps=20, obs_len=20)


def run_cli(*args):
    p = subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"usersim {' '.join(args)} exited {p.returncode}:\n{p.stdout}")
    return p.stdout


def setUpModule():
    if not BIN or not os.access(BIN, os.X_OK):
        raise RuntimeError("USERSIM_BIN must name the usersim command (make test sets it)")
    data = os.path.join(WORK, "data")
    run_cli("synth", "--out", data, "--users", "120", "--items", "60", "--reviews", "1500",
            "--seed", "3")
    run_cli("ingest", "--format", "amazon", "--reviews", os.path.join(data, "Synthetic_5.json.gz"),
            "--meta", os.path.join(data, "meta_Synthetic.json.gz"), "--out", STORE)
    run_cli("build", STORE, "--hashed")


class StableBaselines3(unittest.TestCase):
    def test_env_checker_accepts_the_env(self):
        from stable_baselines3.common.env_checker import check_env

        env = usersim.make(STORE, **OPTS)
        check_env(env, warn=True)
        env.close()

    def test_ppo_and_dqn_train_and_evaluate(self):
        from stable_baselines3 import DQN, PPO

        results = {}
        for name, algo, kw in (("PPO", PPO, dict(n_steps=256, batch_size=64)),
                               ("DQN", DQN, dict(learning_starts=200, buffer_size=5000))):
            env = usersim.make(STORE, **OPTS)
            model = algo("MlpPolicy", env, seed=0, gamma=0.975, verbose=0, **kw)
            model.learn(total_timesteps=1024)
            self.assertGreaterEqual(model.num_timesteps, 1024)

            def policy(obs, model=model):
                return model.predict(obs, deterministic=True)[0]

            r = usersim.evaluate(STORE, policy, episodes=40, population="all",
                                 max_steps=OPTS["max_steps"])
            self.assertTrue(np.isfinite(r["total_reward"]["mean"]))
            results[name] = r["total_reward"]["mean"]
            env.close()
        rnd = usersim.evaluate(STORE, "random", episodes=40, population="all",
                               max_steps=OPTS["max_steps"])["total_reward"]["mean"]
        print("figure: after 1,024 steps, return over 40 sessions: "
              + ", ".join(f"SB3 {k} {v:.2f}" for k, v in results.items())
              + f"; random {rnd:.2f}")


def random_actions(seed, n, n_items, steps):
    return np.random.default_rng(seed).integers(0, n_items, size=(steps, n))


class SB3VecEnv(unittest.TestCase):
    """usersim.sb3.make_vec_env: SB3's VecEnv contract over the C vector env."""

    def test_imports_lazily_and_says_what_is_missing(self):
        code = "import sys, usersim\nprint('stable_baselines3' in sys.modules)\n"
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertEqual(p.stdout.split()[-1], "False")
        code = ("import sys\nsys.modules['stable_baselines3'] = None\n"
                "import usersim.sb3\n")
        p = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("usersim.sb3 needs stable-baselines3: pip install stable-baselines3",
                      p.stdout)

    def test_trajectories_equal_make_vec(self):
        import usersim.sb3
        from stable_baselines3.common.vec_env import VecEnv

        n = 5
        venv = usersim.sb3.make_vec_env(STORE, n, threads=2, **OPTS)
        self.assertIsInstance(venv, VecEnv)
        self.assertEqual(venv.num_envs, n)
        ref = usersim.make_vec(STORE, n, seed=11, **OPTS)
        self.assertEqual(venv.observation_space, ref.single_observation_space)
        self.assertEqual(venv.action_space, ref.single_action_space)
        self.assertEqual(venv.seed(11), [11 + i for i in range(n)])
        obs = venv.reset()
        self.assertIsInstance(obs, np.ndarray)  # the observations only, as SB3 has it
        want, _ = ref.reset()
        np.testing.assert_array_equal(obs, want)
        self.assertEqual([i["user"] for i in venv.reset_infos], want[:, 0].tolist())
        ends = cut = 0
        for a in random_actions(1, n, ref.n_items, 120):
            o, r, d, infos = venv.step(a)
            wo, wr, wte, wtr, winfo = ref.step(a)
            np.testing.assert_array_equal(o, wo)
            np.testing.assert_array_equal(r, wr)
            np.testing.assert_array_equal(d, wte | wtr)
            self.assertEqual(d.dtype, np.bool_)
            self.assertIsInstance(infos, list)
            self.assertEqual(len(infos), n)
            for i, info in enumerate(infos):
                self.assertEqual(info["TimeLimit.truncated"], bool(wtr[i] and not wte[i]))
                self.assertEqual("terminal_observation" in info, bool(d[i]))
                if d[i]:
                    np.testing.assert_array_equal(info["terminal_observation"],
                                                  winfo["final_obs"][i])
            ends += int(d.sum())
            cut += sum(i["TimeLimit.truncated"] for i in infos)
        self.assertGreater(ends, 10)  # episodes ended, by leaving and by the step limit
        self.assertGreater(cut, 0)
        self.assertGreater(ends, cut)
        # A reset without a seed goes on with the next episodes; seed() again starts over.
        again = venv.reset()
        self.assertFalse(np.array_equal(again, want))
        venv.seed(11)
        np.testing.assert_array_equal(venv.reset(), want)
        ref.close()
        venv.close()

    def test_terminal_observation_is_where_the_episode_ended(self):
        """Each env's episodes replayed on a single env (its episode seeds, the same actions):
        every observation matches, terminal_observation is the single env's last one and
        the row returned with it the single env's next first observation."""
        import usersim.sb3

        n, seed = 3, 5
        venv = usersim.sb3.make_vec_env(STORE, n, seed=seed, **OPTS)
        venv.seed(seed)
        obs = venv.reset()
        single = usersim.make(STORE, **OPTS)
        episode = [0] * n
        starts = []
        for i in range(n):
            o, _ = single.reset(options={"episode_seed": usersim.episode_seed(seed, i, 0)})
            np.testing.assert_array_equal(o, obs[i])
        # env i's actions of its current episode, replayed when it ends
        acts = [[] for _ in range(n)]
        checked = 0
        for a in random_actions(2, n, single.n_items, 100):
            o, r, d, infos = venv.step(a)
            for i in range(n):
                acts[i].append(int(a[i]))
                if not d[i]:
                    continue
                single.reset(options={"episode_seed": usersim.episode_seed(seed, i, episode[i])})
                for k, x in enumerate(acts[i]):
                    so, sr, ste, str_, _ = single.step(x)
                    self.assertEqual(ste or str_, k == len(acts[i]) - 1)
                np.testing.assert_array_equal(infos[i]["terminal_observation"], so)
                self.assertEqual(r[i], sr)
                self.assertEqual(infos[i]["TimeLimit.truncated"], bool(str_ and not ste))
                episode[i] += 1
                first, _ = single.reset(
                    options={"episode_seed": usersim.episode_seed(seed, i, episode[i])})
                np.testing.assert_array_equal(o[i], first)
                acts[i] = []
                checked += 1
        self.assertGreater(checked, 5)
        single.close()
        venv.close()

    def test_attributes_methods_and_wrappers(self):
        import usersim.sb3
        from stable_baselines3.common.vec_env import VecMonitor, VecNormalize
        from stable_baselines3.common.monitor import Monitor

        n = 4
        venv = usersim.sb3.make_vec_env(STORE, n, seed=3, **OPTS)
        self.assertIsNone(venv.render_mode)
        self.assertEqual(venv.get_attr("render_mode"), [None] * n)
        self.assertEqual(venv.get_attr("n_items", [1, 3]), [venv.venv.n_items] * 2)
        self.assertEqual(venv.get_attr("n_items", 2), [venv.venv.n_items])
        self.assertTrue(venv.has_attr("store"))
        self.assertFalse(venv.has_attr("no_such_attribute"))
        self.assertEqual(venv.env_is_wrapped(Monitor), [False] * n)
        with self.assertRaises(IndexError):
            venv.get_attr("n_items", [n])
        with self.assertRaisesRegex(ValueError, "all of them at once"):
            venv.set_attr("tag", 1, indices=[0])
        venv.set_attr("tag", 7)
        self.assertEqual(venv.get_attr("tag"), [7] * n)
        self.assertEqual(venv.env_method("__str__"), [str(venv.venv)] * n)
        with self.assertRaisesRegex(ValueError, "all of them at once"):
            venv.env_method("__str__", indices=[0, 1])
        venv.set_options({"user": 1})
        with self.assertRaisesRegex(ValueError, "no reset options"):
            venv.reset()

        # SB3's wrappers on top: VecMonitor's episode returns are the sums of the raw
        # rewards, VecNormalize normalizes the observations and terminal observations.
        wrapped = VecNormalize(VecMonitor(venv), gamma=0.975)
        wrapped.seed(3)
        obs = wrapped.reset()
        self.assertEqual(obs.shape, (n, venv.observation_space.shape[0]))
        self.assertEqual(obs.dtype, np.float32)
        running = np.zeros(n)
        episodes = 0
        for a in random_actions(4, n, venv.venv.n_items, 80):
            obs, _, d, infos = wrapped.step(a)
            raw = wrapped.get_original_reward()
            running += raw
            for i in np.flatnonzero(d):
                self.assertAlmostEqual(infos[i]["episode"]["r"], running[i], places=4)
                self.assertLessEqual(infos[i]["episode"]["l"], OPTS["max_steps"])
                self.assertEqual(infos[i]["terminal_observation"].dtype, np.float32)
                running[i] = 0
                episodes += 1
            self.assertTrue(np.all(np.abs(obs) <= wrapped.clip_obs))
        self.assertGreater(episodes, 5)
        wrapped.close()
        with self.assertRaises(RuntimeError):  # closed: the C vector env is gone
            venv.reset()

    def test_ppo_trains_through_it_and_beats_random(self):
        """PPO("MlpPolicy") on VecNormalize over the adapter, 4,096 steps, then its greedy
        policy against random actions on the same 400 episodes (the same seed: the same
        users and draws). The paper's setting (repeats judged like any item) lets a policy
        that learned which items users like recommend them again; with repeats masked, a
        few thousand steps do not teach an MLP over raw ids to avoid them (it scored below
        random in trials)."""
        import usersim.sb3
        from stable_baselines3 import PPO
        from stable_baselines3.common.vec_env import VecNormalize

        opts = dict(max_steps=10, obs_len=10, mask_repeats=0, judge_known=True)
        venv = VecNormalize(usersim.sb3.make_vec_env(STORE, 8, **opts), gamma=0.975,
                            norm_reward=False)
        model = PPO("MlpPolicy", venv, seed=0, gamma=0.975, n_steps=64, batch_size=128,
                    learning_rate=1e-3, verbose=0)
        model.learn(total_timesteps=4096)
        self.assertGreaterEqual(model.num_timesteps, 4096)
        venv.training = False

        def mean_return(act, episodes=400, n=16, seed=99):
            v = usersim.sb3.make_vec_env(STORE, n, seed=seed, **opts)
            v.seed(seed)
            obs, running, done = v.reset(), np.zeros(n), []
            while len(done) < episodes:
                obs, r, d, _ = v.step(act(obs))
                running += r
                done += running[d].tolist()
                running[d] = 0
            v.close()
            return float(np.mean(done[:episodes]))

        rng = np.random.default_rng(0)
        n_items = venv.get_attr("n_items")[0]
        rnd = mean_return(lambda o: rng.integers(0, n_items, len(o)))
        trained = mean_return(lambda o: model.predict(venv.normalize_obs(o),
                                                      deterministic=True)[0])
        print(f"figure: PPO through usersim.sb3 (8 envs, 4,096 steps): mean return {trained:.2f} "
              f"over 400 episodes of 10 steps; random {rnd:.2f}")
        self.assertGreater(trained, rnd)
        venv.close()


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    raise SystemExit(0 if result.wasSuccessful() else 1)
