"""usersim: simulated recommender-system users as Gymnasium environments, over the usersim C
library (libusersim.so, loaded with ctypes).

    import usersim
    env = usersim.make("games.usdb", use_keyword=False, max_steps=30)
    obs, info = env.reset(seed=42)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
    print(info["votes"], info["matched_pros"])

    venv = usersim.make_vec("games.usdb", 64, threads=4, seed=1)
    obs, infos = venv.reset()
    obs, rewards, terminations, truncations, infos = venv.step(actions)   # numpy in, numpy out

    usersim.ab("games.usdb", "popular", my_recommender, users=2000)   # a simulated A/B test
    usersim.evaluate("games.usdb", "runs/ppo")                          # a trained run's figures

The environments are gymnasium environments (gymnasium is a dependency). Importing usersim
registers "usersim/UserSim-v0": gymnasium.make("usersim/UserSim-v0", store="games.usdb") (or
"usersim:usersim/UserSim-v0" without importing first), and gymnasium.make_vec(...,
vectorization_mode="vector_entry_point") gives the C vector env.

The C vector env for stable-baselines3: usersim.sb3.make_vec_env(store, n, **options) is an
SB3 VecEnv (import usersim.sb3; stable_baselines3 is imported only then).

The library is looked for in USERSIM_LIB (a path; when set, nothing else is tried), then
next to this package's modules (where `pip install ./env/python` puts the one it builds), in
the build/ folder of the repository when the package is imported from a checkout, then on the
system's library path and in /usr/local/lib (after `make install`).
"""
from . import _gym, _lib
from ._lib import LibraryNotFound, UserSimError
from ._sim import ENV_OPTIONS, SIM_OPTIONS
from .agents import ab, evaluate
from .env import UserSimEnv
from .vector import UserSimVectorEnv

__version__ = "0.1.0"
__all__ = ["make", "make_vec", "episode_seed", "evaluate", "ab", "UserSimEnv", "UserSimVectorEnv", "UserSimError",
           "LibraryNotFound", "OPTIONS", "HAVE_GYMNASIUM", "ENV_ID"]

OPTIONS = SIM_OPTIONS + ENV_OPTIONS
# Always true now that gymnasium is required; kept for code that checks it.
HAVE_GYMNASIUM = True
ENV_ID = "usersim/UserSim-v0"


def make(store, render_mode=None, eval_order=False, **options):
    """A UserSimEnv over store (a NAME.usdb file). options: see OPTIONS and UserSimEnv."""
    return UserSimEnv(store, render_mode=render_mode, eval_order=eval_order, **options)


def make_vec(store, n, threads=1, seed=0, eval_order=False, **options):
    """A UserSimVectorEnv of n envs over store, stepped on `threads` threads."""
    return UserSimVectorEnv(store, n, threads=threads, seed=seed, eval_order=eval_order, **options)


def episode_seed(seed, i, k):
    """The C generator's seed of env i's k-th episode (k from 0) in a vector env made with seed
    (us_vecenv_episode_seed); UserSimEnv.reset(options={"episode_seed": ...}) replays it."""
    return _lib.load().us_vecenv_episode_seed(seed, i, k)


if ENV_ID not in _gym.gymnasium.registry:
    _gym.gymnasium.register(
        id=ENV_ID,
        entry_point="usersim.env:UserSimEnv",
        vector_entry_point="usersim.vector:vector_entry_point",
    )
