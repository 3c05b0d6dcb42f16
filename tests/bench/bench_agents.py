"""The RL recommenders in C against the same algorithms from stable-baselines3 (sb3-contrib for
TRPO) on the same store, in the same run: agent+env steps per second of training (the C
runs' periodic evaluations excluded) and the return each trained policy then earns on the
held-out users (usersim.evaluate: the same users and random numbers for every policy; SB3's
model.predict is the policy there), the mean over seeds. Also the vector env alone with
random actions, so the share of a step the env takes shows: env steps/s over SB3's steps/s
is the most any C agent could reach against SB3 (an agent that cost nothing), printed as the
ceiling; and where each C agent's training time goes per step (env, the nets' forward and
backward passes, the optimizer, the rest), from the run's own report.

SB3 gets what its users would write: DummyVecEnv over usersim.make() envs (as many as the C
agent uses), MlpPolicy, its own defaults but the paper's discount 0.975, the observation
holding the whole session (obs_len = max_steps, as the C agents see it). SB3 trains on every
user (the Python env has no user list), the C agents on the users not held out.

Run by `make bench` with the Python of build/rlenv. Environment: USERSIM_BIN (the command),
BENCH_STORE (a store; default build/demo/synthetic.usdb, built like `make demo` with the
hashed embedder when missing), BENCH_AGENT_STEPS (20000), BENCH_SEEDS (3), BENCH_AGENTS
("dqn a2c ppo trpo"; an agent the library lacks is skipped).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import usersim

BIN = os.environ.get("USERSIM_BIN", "build/usersim")
STEPS = int(os.environ.get("BENCH_AGENT_STEPS", "20000"))
SEEDS = int(os.environ.get("BENCH_SEEDS", "3"))
AGENTS = os.environ.get("BENCH_AGENTS", "dqn a2c ppo trpo").split()
ENVS = {"dqn": 4, "a2c": 16, "ppo": 8, "trpo": 8}
MAX_STEPS = 50
EVAL_EPISODES = 300


def run(*args):
    p = subprocess.run([BIN, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"usersim {' '.join(args)} exited {p.returncode}:\n{p.stderr}")
    return p.stdout


def store_path(work):
    s = os.environ.get("BENCH_STORE") or "build/demo/synthetic.usdb"
    if os.path.exists(s):
        return s
    data = os.path.join(work, "data")
    s = os.path.join(work, "synthetic.usdb")
    run("synth", "--out", data)
    run("ingest", "--format", "amazon", "--reviews", os.path.join(data, "Synthetic_5.json.gz"),
        "--meta", os.path.join(data, "meta_Synthetic.json.gz"), "--out", s)
    run("build", s, "--hashed")
    return s


def sb3_algo(agent):
    if agent == "trpo":
        from sb3_contrib import TRPO
        return TRPO
    import stable_baselines3 as sb3
    return {"dqn": sb3.DQN, "a2c": sb3.A2C, "ppo": sb3.PPO}[agent]


def held_out_return(store, policy):
    r = usersim.evaluate(store, policy, episodes=EVAL_EPISODES, max_steps=MAX_STEPS)
    return r["total_reward"]["mean"]


def main():
    from stable_baselines3.common.vec_env import DummyVecEnv
    import torch

    torch.set_num_threads(1)
    work = tempfile.mkdtemp(prefix="usersim-bench-agents-")
    store = store_path(work)
    print(f"bench_agents: {store}, {STEPS:,} steps per run, {SEEDS} seeds, one thread each "
          f"(torch.set_num_threads(1); the C agents pin OpenBLAS to one)")
    base = {p: held_out_return(store, p) for p in ("random", "popular", "oracle")}
    # the env alone: random actions through the C vector env, whole-session observations
    v = usersim.make_vec(store, 16, seed=0, max_steps=MAX_STEPS, obs_len=MAX_STEPS)
    v.reset(seed=0)
    acts = np.random.default_rng(0).integers(v.single_action_space.n, size=(500, 16))
    t = time.perf_counter()
    for a in acts:
        v.step(a)
    env_rate = acts.size / (time.perf_counter() - t)
    v.close()
    rows = []
    for agent in AGENTS:
        if subprocess.run([BIN, "train", "--agent", agent, "--help"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            print(f"  {agent}: not in this library, skipped")
            continue
        try:
            algo = sb3_algo(agent)
        except ImportError as e:
            print(f"  {agent}: SB3 side unavailable ({e}), skipped")
            continue
        c_rate, c_ret, s_rate, s_ret, parts = [], [], [], [], []
        for seed in range(1, SEEDS + 1):
            out = os.path.join(work, f"{agent}-{seed}")
            rep = json.loads(run("train", store, "--agent", agent, "--steps", str(STEPS),
                                 "--seed", str(seed), "--envs", str(ENVS[agent]), "--out", out,
                                 "--eval-every", str(STEPS), "--eval-episodes", "10",
                                 "--max-steps", str(MAX_STEPS), "--json"))
            c_rate.append(rep["learn_steps_per_s"])
            parts.append({k: v / STEPS * 1e6 for k, v in rep["seconds_by_part"].items()})
            c_ret.append(held_out_return(store, out))
            venv = DummyVecEnv([lambda: usersim.make(store, max_steps=MAX_STEPS,
                                                     obs_len=MAX_STEPS)] * ENVS[agent])
            model = algo("MlpPolicy", venv, gamma=0.975, seed=seed, verbose=0, device="cpu")
            t = time.perf_counter()
            model.learn(total_timesteps=STEPS)
            s_rate.append(model.num_timesteps / (time.perf_counter() - t))
            s_ret.append(held_out_return(
                store, lambda obs, m=model: m.predict(obs, deterministic=True)[0]))
            venv.close()
        us = {k: np.mean([p[k] for p in parts]) for k in parts[0]}
        rows.append((agent, np.mean(c_rate), np.mean(s_rate), np.mean(c_ret), np.mean(s_ret), us))
        print(f"  {agent}: C {np.mean(c_rate):,.0f} steps/s, return {np.mean(c_ret):.2f}; "
              f"SB3 {np.mean(s_rate):,.0f} steps/s, return {np.mean(s_ret):.2f}", flush=True)
    print(f"\nagent  C steps/s  SB3 steps/s  ratio  ceiling   C return  SB3 return   (after "
          f"{STEPS:,} steps, mean of {SEEDS} seeds, {EVAL_EPISODES} held-out users)")
    for agent, cr, sr, cret, sret, _ in rows:
        print(f"{agent:5s} {cr:10,.0f} {sr:12,.0f} {cr / sr:6.1f}x {env_rate / sr:7.1f}x "
              f"{cret:10.2f} {sret:11.2f}")
    print("\nwhere a C agent's step goes (microseconds per env step; training only)")
    print("agent     env  forward  backward  optimizer  other   total")
    for agent, cr, _, _, _, us in rows:
        tot = sum(us.values())
        print(f"{agent:5s} {us['env']:7.1f} {us['forward']:8.1f} {us['backward']:9.1f} "
              f"{us['optimizer']:10.1f} {us['other']:6.1f} {tot:7.1f}")
    print(f"baselines: random {base['random']:.2f}, popular {base['popular']:.2f}, "
          f"oracle {base['oracle']:.2f}; the C vector env alone: {env_rate:,.0f} steps/s "
          "(random actions, 16 envs, one thread)")


if __name__ == "__main__":
    sys.exit(main())
