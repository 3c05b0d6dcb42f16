"""sb3.py: the C vector env (usersim.make_vec) as a stable-baselines3 VecEnv, so SB3's
algorithms and VecEnv wrappers (VecNormalize, VecMonitor, ...) step n simulated users with one
C call per step instead of one Python env per user.

    from stable_baselines3 import PPO
    import usersim.sb3
    venv = usersim.sb3.make_vec_env("games.usdb", 16, max_steps=30)
    PPO("MlpPolicy", venv, seed=0).learn(100_000)

stable_baselines3 is imported when this module is, not by `import usersim`; without it the
import raises ImportError saying how to install it.
"""
import numpy as np

try:
    from stable_baselines3.common.vec_env import VecEnv
except ImportError as e:  # the message names the missing package and the way to get it
    raise ImportError("usersim.sb3 needs stable-baselines3: pip install stable-baselines3 "
                      f"({e})") from e

from .vector import UserSimVectorEnv

__all__ = ["UserSimSB3VecEnv", "make_vec_env"]


def make_vec_env(store, n, **options):
    """A UserSimSB3VecEnv of n envs over store (a NAME.usdb file); options go to
    usersim.make_vec as they are (threads, seed, eval_order, and every simulator, environment
    and observation option it takes)."""
    return UserSimSB3VecEnv(UserSimVectorEnv(store, n, **options))


class UserSimSB3VecEnv(VecEnv):
    """stable-baselines3's VecEnv over a UserSimVectorEnv (which it owns and closes).

    Spaces: observation_space and action_space are the vector env's single_observation_space
    and single_action_space (SB3 spaces are per env).

    reset() returns the observations only; the per-env reset infos are in reset_infos. The
    seed given to seed(s) is used by the next reset only, as SB3 specifies: that reset starts
    the C vector env over with seed s, so the trajectories are those of
    usersim.make_vec(store, n, seed=s) (env i's episodes are seeded from s and i; SB3's
    per-env list s, s + 1, ... is not used beyond its first entry). A reset without a pending
    seed starts every env's next episode. Reset options (set_options) are refused at that
    reset: the vector env takes none.

    step_async(actions) / step_wait() (or step): actions are n integer item ids (shape (n,)
    or (n, 1)); returns obs, rewards (float32), dones = terminated | truncated, and a list of
    n info dicts, each with "user" and "TimeLimit.truncated" (truncated and not terminated).
    An env whose episode ended has already been reset (same step): its row of obs is the
    first observation of the next episode and its info holds "terminal_observation", the
    observation the episode ended on.

    The n envs are one C object, so get_attr returns the vector env's attribute for each
    index asked for; set_attr and env_method act on that one object and so only for all
    indices at once (a subset raises ValueError); env_is_wrapped is False for each index (no
    gymnasium wrapper is inside). render_mode is None (nothing to render).
    """

    def __init__(self, venv):
        if not isinstance(venv, UserSimVectorEnv):
            raise TypeError("usersim: UserSimSB3VecEnv wraps a usersim.UserSimVectorEnv "
                            f"(usersim.make_vec), found {type(venv).__name__}")
        self.venv = venv
        self._actions = None
        super().__init__(venv.num_envs, venv.single_observation_space,
                         venv.single_action_space)

    def _indices(self, indices):
        out = list(self._get_indices(indices))
        for i in out:
            if not isinstance(i, (int, np.integer)) or not 0 <= i < self.num_envs:
                raise IndexError(f"usersim: env index {i!r} is not in 0..{self.num_envs - 1}")
        return out

    def _all(self, indices, what):
        out = self._indices(indices)
        if sorted(out) != list(range(self.num_envs)):
            raise ValueError(f"usersim: the {self.num_envs} envs are one C vector env, so "
                             f"{what} applies to all of them at once, not to indices {out}")
        return out

    def reset(self):
        seed = self._seeds[0]
        options = [o for o in self._options if o]
        self._reset_seeds()
        self._reset_options()
        if options:
            raise ValueError("usersim: the vector env takes no reset options, found "
                             f"{sorted(options[0])}")
        obs, info = self.venv.reset(seed=None if seed is None else int(seed) % 2**64)
        users = info["user"]
        self.reset_infos = [{"user": int(u)} for u in users]
        self._actions = None
        return obs

    def step_async(self, actions):
        a = np.asarray(actions)
        if a.ndim == 2 and a.shape[1] == 1:  # a Discrete action as SB3 sometimes shapes it
            a = a[:, 0]
        self._actions = a

    def step_wait(self):
        if self._actions is None:
            raise RuntimeError("usersim: step_wait() without step_async() (or after reset())")
        actions, self._actions = self._actions, None
        obs, rewards, terminated, truncated, info = self.venv.step(actions)
        dones = terminated | truncated
        cut = (truncated & ~terminated).tolist()
        infos = [{"user": u, "TimeLimit.truncated": c} for u, c in zip(info["user"].tolist(), cut)]
        if "_final_obs" in info:
            final = info["final_obs"]
            for i in np.flatnonzero(info["_final_obs"]):
                infos[i]["terminal_observation"] = final[i]
        return obs, rewards, dones, infos

    def close(self):
        self.venv.close()

    def get_attr(self, attr_name, indices=None):
        value = getattr(self.venv, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name, value, indices=None):
        self._all(indices, f"set_attr({attr_name!r})")
        setattr(self.venv, attr_name, value)

    def env_method(self, method_name, *method_args, indices=None, **method_kwargs):
        out = self._all(indices, f"env_method({method_name!r})")
        result = getattr(self.venv, method_name)(*method_args, **method_kwargs)
        return [result for _ in out]

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False for _ in self._indices(indices)]

    def get_images(self):
        raise NotImplementedError("usersim: the environment renders no images (render_mode "
                                  "is None)")
