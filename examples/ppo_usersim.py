"""ppo_usersim.py: PPO on simulated recommender-system users, in one file that reads top to
bottom: the hyperparameters (each declared once, with its help text), the policy network, the
rollout, the advantage estimate, the clipped update, and an evaluation against a random policy
on the same users with the same random numbers.

The environment is usersim.make_vec with observation="features": each observation is a flat
float32 vector (the user's content profile, then the session's last obs_len recommended items'
text vectors with the user's reaction), so the policy is a plain MLP with one logit per item.
The policy never recommends an item twice in one session (its logits for the items already
recommended are masked), and neither does the random policy it is compared with.

    python examples/ppo_usersim.py --store games.usdb             # usersim build made it
    python examples/ppo_usersim.py --store games.usdb --json out.json --total-timesteps 50000

Needs numpy, PyTorch and the usersim package (pip install ./env/python). With the defaults it
trains for about a minute on one core of a small store (a hundred users, tens of items).
"""
import argparse
import json
import time

import numpy as np
import torch
import torch.nn as nn

import usersim


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    # the run
    p.add_argument("--store", required=True, help="the NAME.usdb store (with vectors: usersim build)")
    p.add_argument("--seed", type=int, default=1, help="seeds torch, the envs and the evaluation")
    p.add_argument("--torch-threads", type=int, default=1, help="threads PyTorch may use")
    p.add_argument("--json", default=None, help="write the final evaluation to this JSON file")
    p.add_argument("--quiet", action="store_true", help="print only the final evaluation")
    # the environment
    p.add_argument("--num-envs", type=int, default=8, help="simulated users stepped together")
    p.add_argument("--max-steps", type=int, default=20, help="recommendations per session at most")
    p.add_argument("--obs-len", type=int, default=4,
                   help="recent (item vector, reaction) pairs in the observation")
    # the algorithm
    p.add_argument("--total-timesteps", type=int, default=24576,
                   help="environment steps to train for, over all envs")
    p.add_argument("--num-steps", type=int, default=64, help="rollout steps per env per update")
    p.add_argument("--learning-rate", type=float, default=2.5e-3, help="Adam's step size")
    p.add_argument("--anneal-lr", type=int, default=1,
                   help="1: decay the learning rate linearly to 0 over the run")
    p.add_argument("--gamma", type=float, default=0.5,
                   help="discount factor (a like is mostly earned now: a recommendation moves "
                   "the future only through leaving and the session so far)")
    p.add_argument("--gae-lambda", type=float, default=0.95,
                   help="lambda of generalized advantage estimation")
    p.add_argument("--num-minibatches", type=int, default=4, help="minibatches per epoch")
    p.add_argument("--update-epochs", type=int, default=4, help="passes over each rollout")
    p.add_argument("--clip-coef", type=float, default=0.2, help="the surrogate's clip range")
    p.add_argument("--ent-coef", type=float, default=0.0, help="weight of the entropy bonus")
    p.add_argument("--vf-coef", type=float, default=0.5, help="weight of the value loss")
    p.add_argument("--max-grad-norm", type=float, default=0.5, help="gradient clipping norm")
    p.add_argument("--hidden", type=int, default=64, help="width of the two hidden layers")
    # the evaluation
    p.add_argument("--eval-users", type=int, default=0,
                   help="users evaluated, one full session each (0: every user of the store)")
    p.add_argument("--eval-greedy", type=int, default=1,
                   help="1: evaluate the policy's most likely item; 0: sample from the policy")
    args = p.parse_args(argv)
    args.batch_size = args.num_envs * args.num_steps
    args.minibatch_size = args.batch_size // args.num_minibatches
    args.num_updates = max(1, args.total_timesteps // args.batch_size)
    return args


def layer(n_in, n_out, std=np.sqrt(2), bias=0.0):
    """A linear layer with orthogonal weights of gain std and a constant bias."""
    lin = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(lin.weight, std)
    nn.init.constant_(lin.bias, bias)
    return lin


class Agent(nn.Module):
    """Actor and critic, each an MLP over the feature observation; the actor has one logit
    per item."""

    def __init__(self, n_features, n_items, hidden):
        super().__init__()
        self.critic = nn.Sequential(layer(n_features, hidden), nn.Tanh(),
                                    layer(hidden, hidden), nn.Tanh(), layer(hidden, 1, std=1.0))
        self.actor = nn.Sequential(layer(n_features, hidden), nn.Tanh(),
                                   layer(hidden, hidden), nn.Tanh(),
                                   layer(hidden, n_items, std=0.01))

    def value(self, obs):
        return self.critic(obs).squeeze(-1)

    def dist(self, obs, allowed):
        """The policy's distribution over items; items not allowed get probability 0."""
        logits = self.actor(obs).masked_fill(~allowed, -1e9)
        return torch.distributions.Categorical(logits=logits)


def evaluate(store, args, act):
    """Mean likes per session over the evaluation users, each given one full session
    (evaluation order: no early leaving) by act(obs, allowed) -> items. The envs' seed is
    fixed, so two policies evaluated here meet the same users with the same random numbers."""
    probe = usersim.make_vec(store, 1, observation="features", obs_len=args.obs_len)
    n_users = probe.n_users
    probe.close()
    n = min(args.eval_users or n_users, n_users)
    env = usersim.make_vec(store, n, seed=args.seed + 1000, eval_order=True,
                           observation="features", obs_len=args.obs_len, max_steps=args.max_steps)
    obs, _ = env.reset()
    seen = np.zeros((n, env.n_items), dtype=bool)
    total = np.zeros(n)
    for _ in range(args.max_steps):  # env i walks user i: one session each, then done
        items = act(obs, ~seen)
        seen[np.arange(n), items] = True
        obs, rewards, _, _, _ = env.step(items)
        total += rewards
    env.close()
    return float(total.mean()), n


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.torch_threads)
    start = time.time()

    envs = usersim.make_vec(args.store, args.num_envs, seed=args.seed, observation="features",
                            obs_len=args.obs_len, max_steps=args.max_steps)
    n, n_items = args.num_envs, envs.n_items
    n_features = envs.single_observation_space.shape[0]
    agent = Agent(n_features, n_items, args.hidden)
    optimizer = torch.optim.Adam(agent.parameters(), lr=args.learning_rate, eps=1e-5)

    # the rollout buffer: step t of env i
    obs_buf = torch.zeros((args.num_steps, n, n_features))
    allowed_buf = torch.zeros((args.num_steps, n, n_items), dtype=torch.bool)
    actions_buf = torch.zeros((args.num_steps, n), dtype=torch.long)
    logprobs_buf = torch.zeros((args.num_steps, n))
    rewards_buf = torch.zeros((args.num_steps, n))
    dones_buf = torch.zeros((args.num_steps, n))
    values_buf = torch.zeros((args.num_steps, n))

    obs_np, _ = envs.reset()
    next_obs = torch.from_numpy(obs_np)
    next_done = torch.zeros(n)
    seen = np.zeros((n, n_items), dtype=bool)  # items recommended in each env's session
    session_return = np.zeros(n)
    recent_returns = []
    global_step = 0

    for update in range(1, args.num_updates + 1):
        if args.anneal_lr:
            optimizer.param_groups[0]["lr"] = args.learning_rate * (
                1.0 - (update - 1.0) / args.num_updates)

        # ---- rollout: num_steps steps of every env with the current policy ----
        for t in range(args.num_steps):
            global_step += n
            obs_buf[t] = next_obs
            dones_buf[t] = next_done
            allowed = torch.from_numpy(~seen)
            allowed_buf[t] = allowed
            with torch.no_grad():
                d = agent.dist(next_obs, allowed)
                action = d.sample()
                logprobs_buf[t] = d.log_prob(action)
                values_buf[t] = agent.value(next_obs)
            actions_buf[t] = action
            items = action.numpy()
            seen[np.arange(n), items] = True
            obs_np, reward, terminated, truncated, _ = envs.step(items)
            done = terminated | truncated
            rewards_buf[t] = torch.from_numpy(reward)
            session_return += reward
            for i in np.flatnonzero(done):  # the env started its next session in this step
                recent_returns.append(session_return[i])
                session_return[i] = 0.0
                seen[i] = False
            next_obs = torch.from_numpy(obs_np)
            next_done = torch.from_numpy(done.astype(np.float32))

        # ---- generalized advantage estimation, backwards from the bootstrap value ----
        with torch.no_grad():
            next_value = agent.value(next_obs)
            advantages = torch.zeros_like(rewards_buf)
            last = torch.zeros(n)
            for t in reversed(range(args.num_steps)):
                if t == args.num_steps - 1:
                    not_done, v_next = 1.0 - next_done, next_value
                else:
                    not_done, v_next = 1.0 - dones_buf[t + 1], values_buf[t + 1]
                # delta_t = r_t + gamma V(s_{t+1}) - V(s_t); A_t = delta_t + gamma lambda A_{t+1}
                delta = rewards_buf[t] + args.gamma * v_next * not_done - values_buf[t]
                last = delta + args.gamma * args.gae_lambda * not_done * last
                advantages[t] = last
            returns = advantages + values_buf

        # ---- the clipped update: update_epochs passes of shuffled minibatches ----
        b_obs = obs_buf.reshape(-1, n_features)
        b_allowed = allowed_buf.reshape(-1, n_items)
        b_actions = actions_buf.reshape(-1)
        b_logprobs = logprobs_buf.reshape(-1)
        b_adv = advantages.reshape(-1)
        b_returns = returns.reshape(-1)
        b_values = values_buf.reshape(-1)
        clipfracs = []
        for _ in range(args.update_epochs):
            order = torch.randperm(args.batch_size)
            for lo in range(0, args.batch_size, args.minibatch_size):
                mb = order[lo:lo + args.minibatch_size]
                d = agent.dist(b_obs[mb], b_allowed[mb])
                logratio = d.log_prob(b_actions[mb]) - b_logprobs[mb]
                ratio = logratio.exp()
                with torch.no_grad():
                    approx_kl = ((ratio - 1) - logratio).mean()  # the k3 estimator
                    clipfracs.append(((ratio - 1.0).abs() > args.clip_coef).float().mean().item())
                adv = b_adv[mb]
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - args.clip_coef,
                                                                     1 + args.clip_coef)).mean()
                value_loss = 0.5 * ((agent.value(b_obs[mb]) - b_returns[mb]) ** 2).mean()
                entropy = d.entropy().mean()
                loss = pg_loss - args.ent_coef * entropy + args.vf_coef * value_loss
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(agent.parameters(), args.max_grad_norm)
                optimizer.step()

        var_y = b_returns.var().item()
        explained_variance = (np.nan if var_y == 0
                              else 1 - (b_returns - b_values).var().item() / var_y)
        if not args.quiet:
            mean_ret = np.mean(recent_returns[-100:]) if recent_returns else float("nan")
            print(f"update {update}/{args.num_updates} step {global_step} "
                  f"episodic_return {mean_ret:.3f} value_loss {value_loss.item():.4f} "
                  f"policy_loss {pg_loss.item():.4f} entropy {entropy.item():.3f} "
                  f"approx_kl {approx_kl.item():.4f} clipfrac {np.mean(clipfracs):.3f} "
                  f"explained_variance {explained_variance:.3f} "
                  f"sps {int(global_step / (time.time() - start))}", flush=True)
    envs.close()

    # ---- evaluation: the trained policy and a random one, same users, same world ----
    gen = torch.Generator().manual_seed(args.seed)

    def ppo_act(obs, allowed):
        with torch.no_grad():
            probs = agent.dist(torch.from_numpy(obs), torch.from_numpy(allowed)).probs
        if args.eval_greedy:
            return probs.argmax(1).numpy()
        return torch.multinomial(probs, 1, generator=gen).squeeze(1).numpy()

    rng = np.random.default_rng(args.seed)

    def random_act(obs, allowed):
        # uniform over the items not yet recommended in the session
        return np.array([rng.choice(np.flatnonzero(row)) for row in allowed])

    ppo_return, users = evaluate(args.store, args, ppo_act)
    random_return, _ = evaluate(args.store, args, random_act)
    result = {"ppo_return": ppo_return, "random_return": random_return, "users": users,
              "max_steps": args.max_steps, "total_timesteps": global_step, "seed": args.seed,
              "seconds": round(time.time() - start, 1)}
    print(f"evaluation over {users} users, one session of {args.max_steps} each: likes per "
          f"session PPO {ppo_return:.3f}, random {random_return:.3f} "
          f"({global_step} training steps, {result['seconds']} s)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main()
