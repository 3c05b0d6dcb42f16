"""examples/ppo_usersim.py, the single-file PPO example, run as a user runs it: on a store made
by the usersim command (synthetic data, `usersim build --hashed`), with its default
hyperparameters and a fixed seed. Its final evaluation gives the trained policy and a random
one the same users with the same random numbers; the trained one must earn more likes.

Run by tests/env/test_python.c (make test) with the Python of build/rlenv (PyTorch). Prints
"figure:" lines the C runner shows.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

BIN = os.environ.get("USERSIM_BIN", "")
WORK = os.environ.get("USERSIM_TEST_DIR") or tempfile.mkdtemp(prefix="usersim-example-")
STORE = os.path.join(WORK, "example.usdb")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "ppo_usersim.py")


def run(*args):
    p = subprocess.run(list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {p.returncode}:\n{p.stdout[-4000:]}")
    return p.stdout


def setUpModule():
    if not BIN or not os.access(BIN, os.X_OK):
        raise RuntimeError("USERSIM_BIN must name the usersim command (make test sets it)")
    data = os.path.join(WORK, "data")
    run(BIN, "synth", "--out", data, "--users", "120", "--items", "60", "--reviews", "1500",
        "--seed", "3")
    run(BIN, "ingest", "--format", "amazon", "--reviews", os.path.join(data, "Synthetic_5.json.gz"),
        "--meta", os.path.join(data, "meta_Synthetic.json.gz"), "--out", STORE)
    run(BIN, "build", STORE, "--hashed")


class PPOExample(unittest.TestCase):
    def test_defaults_beat_random_on_the_same_users(self):
        out = os.path.join(WORK, "ppo.json")
        log = run(sys.executable, EXAMPLE, "--store", STORE, "--seed", "1", "--json", out)
        self.assertIn("approx_kl", log)  # the per-update diagnostics are printed
        with open(out) as f:
            r = json.load(f)
        print(f"figure: PPO example, defaults, seed 1: {r['total_timesteps']} steps in "
              f"{r['seconds']} s; likes per session over {r['users']} users: PPO "
              f"{r['ppo_return']:.3f}, random {r['random_return']:.3f}")
        self.assertEqual(r["users"], 120)
        self.assertGreater(r["random_return"], 0.0)
        self.assertGreater(r["ppo_return"], r["random_return"])

    def test_help_lists_every_hyperparameter(self):
        text = run(sys.executable, EXAMPLE, "--help")
        for flag in ("--learning-rate", "--gamma", "--gae-lambda", "--clip-coef", "--ent-coef",
                     "--num-envs", "--num-steps", "--total-timesteps", "--obs-len"):
            self.assertIn(flag, text)


if __name__ == "__main__":
    result = unittest.main(verbosity=2, exit=False).result
    raise SystemExit(0 if result.wasSuccessful() else 1)
