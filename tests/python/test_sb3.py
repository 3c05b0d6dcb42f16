"""stable-baselines3 against usersim with no glue code: SB3's own env checker accepts
usersim.make(), PPO("MlpPolicy") and DQN("MlpPolicy") train on it as it is (the observation is
a flat int32 Box, which SB3's MlpPolicy takes as floats), and a trained model is then compared
with the baselines through usersim.evaluate, its predict() as the policy.

Run by tests/env/test_python.c (make test) with the Python of build/rlenv
(scripts/pyenv.sh with USERSIM_PY_EXTRA="stable-baselines3 sb3-contrib"). Prints "figure:"
lines the C runner shows.
"""
import os
import subprocess
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


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    raise SystemExit(0 if result.wasSuccessful() else 1)
