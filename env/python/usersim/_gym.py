"""_gym.py: the parts of gymnasium (a required dependency) the environments are built on, in
one place: Env and VectorEnv (the base classes), the spaces Discrete, MultiDiscrete and Box,
and batch_space. Importing it without gymnasium raises ImportError saying how to install it.
"""
try:
    import gymnasium
    from gymnasium import Env
    from gymnasium.spaces import Box, Discrete, MultiDiscrete
    from gymnasium.vector import VectorEnv
    from gymnasium.vector.utils import batch_space
except ImportError as e:  # the message names the missing package and the way to get it
    raise ImportError(f"usersim needs gymnasium (>=1.1): pip install 'gymnasium>=1.1,<2' ({e})") \
        from e

# Always true: kept for code that checked it when gymnasium was optional.
HAVE_GYMNASIUM = True

__all__ = ["gymnasium", "Env", "VectorEnv", "Box", "Discrete", "MultiDiscrete", "batch_space",
           "HAVE_GYMNASIUM"]
