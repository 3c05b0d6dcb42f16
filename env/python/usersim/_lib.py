"""_lib.py: finds and loads libusersim with ctypes, mirrors the C structs the binding passes
(core/core.h, simulator/simulator.h, env/env.h) and declares every prototype it calls.

Nothing here is loaded at import time: load() runs on first use, so `import usersim` works
(and gymnasium can register the environment) on a machine without the library.

The structs are mirrored field by field in the headers' order; ctypes lays them out with the
platform's C rules, so they match as long as the fields do. LAYOUT records the sizes and field
offsets the binding assumes, and the tests compare it with what the C compiler says.
"""
import ctypes
import ctypes.util
import os
import threading
from pathlib import Path

US_SIM_NVOTES = 3
US_SIM_MAX_MATCHED = 8
US_ENV_RANDOM_USER = -1
US_ENV_NEXT_USER = -2
US_ENV_MAX_OBS_LEN = 256
US_VECENV_MAX_BYTES = 8 << 30  # a vector env's memory limit (env.h; us_vecenv_init enforces it)
US_VECENV_MAX_THREADS = 1024

VOTE_NAMES = ("keyword", "embed", "sasrec")
MODES = {"majority": 0, "weighted": 1, "stochastic": 2, "fitted": 3}
TIES = {"random": 0, "dislike": 1}


class us_err(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_int),  # us_status, an int-sized enum
        ("line", ctypes.c_long),
        ("file", ctypes.c_char * 256),
        ("field", ctypes.c_char * 64),
        ("msg", ctypes.c_char * 512),
    ]


class us_sim_config(ctypes.Structure):
    _fields_ = [
        ("mode", ctypes.c_int),  # us_sim_mode
        ("tie", ctypes.c_int),  # us_sim_tie
        ("use", ctypes.c_int * US_SIM_NVOTES),
        ("weight", ctypes.c_float * US_SIM_NVOTES),
        ("category_filter", ctypes.c_int),
        ("empty_sim", ctypes.c_float),
        ("keyword_scale", ctypes.c_float),
        ("embed_scale", ctypes.c_float),
        ("sasrec_version", ctypes.c_int64),
        ("threshold", ctypes.c_float * US_SIM_NVOTES),
        ("calibrate", ctypes.c_int),
        ("use_collab", ctypes.c_int),
        ("mf_factors", ctypes.c_int),
        ("dislike_side", ctypes.c_int),
        ("choose", ctypes.c_int),
        ("next_version", ctypes.c_int64),
        ("engage_negatives", ctypes.c_int),
        ("judge_known", ctypes.c_int),
        ("seed", ctypes.c_uint64),
    ]


class us_env_config(ctypes.Structure):
    _fields_ = [
        ("max_steps", ctypes.c_int),
        ("leave_prob", ctypes.c_double),
        ("obs_len", ctypes.c_int),
        ("mask_repeats", ctypes.c_int),
        ("leave_gain", ctypes.c_double),
        ("leave_decay", ctypes.c_double),
    ]


class us_sim_reaction(ctypes.Structure):
    _fields_ = [
        ("like", ctypes.c_int),
        ("vote", ctypes.c_int * US_SIM_NVOTES),
        ("pros_matches", ctypes.c_int),
        ("cons_matches", ctypes.c_int),
        ("pros_sim", ctypes.c_float),
        ("cons_sim", ctypes.c_float),
        ("p_sasrec", ctypes.c_float),
        ("score", ctypes.c_float),
        ("n_matched_pros", ctypes.c_int),
        ("n_matched_cons", ctypes.c_int),
        ("matched_pros", ctypes.c_uint32 * US_SIM_MAX_MATCHED),
        ("matched_cons", ctypes.c_uint32 * US_SIM_MAX_MATCHED),
        ("judged", ctypes.c_int),
        ("engage", ctypes.c_int),
        ("p_engage", ctypes.c_float),
        ("repeat", ctypes.c_int),
        ("logged", ctypes.c_int),
        ("p_bias", ctypes.c_float),
        ("p_mf", ctypes.c_float),
        ("p_reward", ctypes.c_float),
    ]


class us_env_step_result(ctypes.Structure):
    _fields_ = [
        ("reward", ctypes.c_float),
        ("terminated", ctypes.c_int),
        ("truncated", ctypes.c_int),
        ("repeat", ctypes.c_int),
        ("reaction", us_sim_reaction),
    ]


STRUCTS = (us_err, us_sim_config, us_env_config, us_sim_reaction, us_env_step_result)


def layout():
    """{struct name: (sizeof, {field: offset})} as ctypes lays the mirrors out."""
    return {
        s.__name__: (ctypes.sizeof(s), {name: getattr(s, name).offset for name, _ in s._fields_})
        for s in STRUCTS
    }


# What the mirrors must come to on an LP64 platform (x86-64, aarch64 Linux), worked out by hand
# from the headers: us_err is 4 + 4 padding + 8 + 256 + 64 + 512; us_sim_config's int64 sits at
# 48 after twelve 4-byte fields, four more follow it (thresholds, calibrate), then four ints,
# the next-item int64 at 80, two ints and the uint64 seed at 96 (112 in all); us_env_config
# pads its int before each double (40); the reaction is 36 four-byte values and two arrays of
# 8 (144); the step result adds 4 four-byte values (160).
LP64_SIZES = {
    "us_err": 848,
    "us_sim_config": 112,
    "us_env_config": 40,
    "us_sim_reaction": 144,
    "us_env_step_result": 160,
}

if ctypes.sizeof(ctypes.c_long) == 8 and ctypes.sizeof(ctypes.c_void_p) == 8:
    for _s in STRUCTS:
        if ctypes.sizeof(_s) != LP64_SIZES[_s.__name__]:
            raise ImportError(
                f"usersim: the ctypes mirror of {_s.__name__} is {ctypes.sizeof(_s)} bytes, "
                f"expected {LP64_SIZES[_s.__name__]}"
            )


class UserSimError(RuntimeError):
    """A usersim C call failed. str() is the library's message ("file:line: field: message");
    code is the us_status value (negative), status its name ("not found", ...), and file, line
    and field the parts of the us_err (empty / 0 when they do not apply)."""

    def __init__(self, message, code=0, status="", file="", line=0, field=""):
        super().__init__(message)
        self.code = code
        self.status = status
        self.file = file
        self.line = line
        self.field = field


class OwnsHandle:
    """Base of every object that holds a C handle and frees it once (close() or collection).
    A copy would hold the same handle and free it a second time, under the original, so
    copy.copy, copy.deepcopy and pickle are refused with a TypeError; make a new object
    instead (the same store and options give the same episodes)."""

    def _refuse_copy(self, *args):
        raise TypeError(f"usersim: a {type(self).__name__} owns a C handle and cannot be "
                        "copied or pickled; make a new one with the same store and options")

    __copy__ = __deepcopy__ = __reduce__ = __reduce_ex__ = __getstate__ = _refuse_copy


class LibraryNotFound(ImportError):
    """libusersim could not be loaded; the message lists every place that was tried."""


_lib = None
_lock = threading.Lock()


def _candidates():
    """Where to look, in order, as (description, path) pairs."""
    env = os.environ.get("USERSIM_LIB")
    if env:
        # An explicit choice is the only one: falling back would hide a wrong setting.
        return [("USERSIM_LIB", env)]
    here = Path(__file__).resolve().parent
    # What pip install ./env/python (or a wheel from make wheel) put inside the package.
    out = [("bundled with the package", str(here / "libusersim.so"))]
    # Running from a checkout (env/python/usersim on PYTHONPATH): the repository's build folder.
    repo = here.parent.parent.parent
    if (repo / "env" / "python" / "usersim").resolve() == here:
        out.append(("the repository's build folder", str(repo / "build" / "libusersim.so")))
    found = ctypes.util.find_library("usersim")
    out.append(("the system library path", found or "libusersim.so"))
    # make install's default prefix, which the loader may not search before ldconfig runs.
    out.append(("make install's default prefix", "/usr/local/lib/libusersim.so"))
    return out


def load():
    """The loaded library, with every prototype declared. Raises LibraryNotFound."""
    global _lib
    with _lock:
        if _lib is None:
            tried = []
            lib = None
            for where, path in _candidates():
                if os.sep in path and not os.path.exists(path):
                    tried.append(f"{where}: {path} (missing)")
                    continue
                try:
                    lib = ctypes.CDLL(path)
                    break
                except OSError as e:
                    tried.append(f"{where}: {path} ({e})")
            if lib is None:
                raise LibraryNotFound(
                    "usersim: cannot load libusersim.so. `pip install ./env/python` builds "
                    "it into the package; or set USERSIM_LIB to a built one (for example "
                    "build/libusersim.so), or install it with `make install`. Tried:\n  "
                    + "\n  ".join(tried)
                )
            _declare(lib)
            _lib = lib
        return _lib


def _fn(lib, name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)


def _declare(lib):
    P = ctypes.POINTER
    vp = ctypes.c_void_p  # opaque handles and numpy buffers (passed as addresses)
    i32, u32, u64 = ctypes.c_int32, ctypes.c_uint32, ctypes.c_uint64
    cint, cstr = ctypes.c_int, ctypes.c_char_p
    _fn(lib, "us_err_str", cstr, P(us_err), ctypes.c_char_p, ctypes.c_size_t)
    _fn(lib, "us_status_name", cstr, cint)
    _fn(lib, "us_sim_config_default", us_sim_config)
    _fn(lib, "us_sim_config_paper", us_sim_config)
    _fn(lib, "us_sim_open", cint, P(vp), cstr, P(us_sim_config), P(us_err))
    _fn(lib, "us_sim_close", None, vp)
    _fn(lib, "us_sim_n_users", cint, vp)
    _fn(lib, "us_sim_n_items", cint, vp)
    _fn(lib, "us_sim_thresholds", None, vp, P(ctypes.c_float))
    _fn(lib, "us_sim_keyword", cstr, vp, u32)
    _fn(lib, "us_sim_category", cstr, vp, i32)
    _fn(lib, "us_sim_item_raw", cstr, vp, i32)
    _fn(lib, "us_sim_user_raw", cstr, vp, i32)
    _fn(lib, "us_sim_item_title", cstr, vp, i32)
    _fn(lib, "us_sim_item_vectors", vp, vp, P(cint), P(vp))
    _fn(lib, "us_sim_item_categories", vp, vp, P(cint))
    _fn(lib, "us_sim_category_name", cstr, vp, cint)
    _fn(lib, "us_sim_keyword_csr", u32, vp, cint, P(vp), P(vp))
    _fn(lib, "us_sim_n_keywords", u32, vp)
    _fn(lib, "us_env_config_default", us_env_config)
    _fn(lib, "us_env_config_validate", cint, P(us_env_config), P(us_err))
    _fn(lib, "us_env_init", cint, P(vp), vp, P(us_env_config), P(us_err))
    _fn(lib, "us_env_free", None, vp)
    _fn(lib, "us_env_obs_size", cint, vp)
    _fn(lib, "us_env_bytes_estimate", u64, P(us_env_config))
    _fn(lib, "us_env_reset", i32, vp, u64, i32, vp)
    _fn(lib, "us_env_step", None, vp, i32, vp, P(us_env_step_result))
    _fn(lib, "us_env_user", i32, vp)
    _fn(lib, "us_env_steps", cint, vp)
    _fn(lib, "us_env_done", cint, vp)
    _fn(lib, "us_env_action_mask", None, vp, vp)
    _fn(lib, "us_env_features_size", cint, vp)
    _fn(lib, "us_env_features", None, vp, vp)
    _fn(lib, "us_vecenv_init", cint, P(vp), vp, P(us_env_config), cint, cint, u64, cint, P(us_err))
    _fn(lib, "us_vecenv_free", None, vp)
    _fn(lib, "us_vecenv_n", cint, vp)
    _fn(lib, "us_vecenv_episode_seed", u64, u64, u64, u64)
    _fn(lib, "us_vecenv_reset", None, vp, vp)
    _fn(lib, "us_vecenv_step", None, vp, vp, vp, vp, vp, vp, vp)
    _fn(lib, "us_vecenv_features_size", cint, vp)
    _fn(lib, "us_vecenv_features", None, vp, vp)


def error(lib, status, err):
    """A UserSimError from a failed call's status and its filled us_err."""
    buf = ctypes.create_string_buffer(1200)
    text = lib.us_err_str(ctypes.byref(err), buf, len(buf)).decode("utf-8", "replace")
    name = (lib.us_status_name(status) or b"").decode("utf-8", "replace")
    return UserSimError(
        f"{text} ({name})" if name else text,
        code=status,
        status=name,
        file=err.file.decode("utf-8", "replace"),
        line=err.line,
        field=err.field.decode("utf-8", "replace"),
    )


def check(lib, status, err):
    """Raises the UserSimError of a failed call; returns None for US_OK."""
    if status != 0:
        raise error(lib, status, err)
