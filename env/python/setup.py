"""Builds libusersim.so with the repository's Makefile and ships it inside the package
(usersim/libusersim.so), so `pip install ./env/python` gives a package that imports and runs
with no environment variable set. Everything else about the package is in pyproject.toml.

The C sources are not copied into the package: they are found at build time in the repository
this file sits in (two folders up), by absolute path. pip builds a local folder in place, so
`pip install ./env/python` and `pip wheel ./env/python` find them; a copy of env/python built
elsewhere (an sdist, scripts/pyenv.sh's copy) names the repository with USERSIM_SOURCE.

    USERSIM_SOURCE  the repository root (default: ../.. from this file)
    USERSIM_BUILD   make's BUILD folder, relative to the root or absolute (default: build);
                    objects already built there are reused

The wheel holds a compiled library linked against the system's OpenBLAS, cJSON, libcurl,
SQLite and zlib, so it is tagged for this platform (py3-none-linux_x86_64), never
py3-none-any: pip refuses it on another architecture.
"""
import os
import shutil
import subprocess
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:  # setuptools 70.1 and later carry bdist_wheel; before that it is the wheel package's
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:
    from wheel.bdist_wheel import bdist_wheel

HERE = Path(__file__).resolve().parent
LIBNAME = "libusersim.so"


def source_root():
    """The repository root holding the Makefile and the C sources."""
    root = Path(os.environ.get("USERSIM_SOURCE") or HERE.parent.parent).resolve()
    if not (root / "Makefile").is_file() or not (root / "env" / "env.h").is_file():
        raise SystemExit(
            f"usersim: no C sources at {root} (no Makefile and env/env.h there). Build the "
            "package from the repository's env/python, or set USERSIM_SOURCE to the "
            "repository root.")
    return root


def build_folder(root):
    """make's BUILD folder as an absolute path."""
    return (root / os.environ.get("USERSIM_BUILD", "build")).resolve()


def make_library():
    """Runs make for the shared library and returns its path."""
    root = source_root()
    build = build_folder(root)
    lib = build / LIBNAME
    if shutil.which("make") is None:
        raise SystemExit("usersim: building the C library needs make and a C compiler "
                         "(on Debian: apt-get install build-essential)")
    # A make above this one (make test running scripts/pyenv.sh) hands down job-server flags
    # whose descriptors pip does not pass on; this make starts its own.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    jobs = str(os.cpu_count() or 1)
    # Inside the repository, BUILD is spelled relative to it, as a plain make spells it: the
    # header dependencies make recorded (build/x.d) name their objects that way.
    where = os.path.relpath(build, root)
    if where == os.pardir or where.startswith(os.pardir + os.sep):
        where = str(build)
    cmd = ["make", "-C", str(root), "-j", jobs, f"BUILD={where}", f"{where}/{LIBNAME}"]
    print("usersim: " + " ".join(cmd), flush=True)
    subprocess.run(cmd, env=env, check=True)
    return lib


class BuildWithLibrary(build_py):
    """build_py that also puts a freshly made libusersim.so next to the modules."""

    def run(self):
        super().run()
        lib = make_library()
        dest = Path(self.build_lib) / "usersim" / LIBNAME
        dest.parent.mkdir(parents=True, exist_ok=True)
        # Always copied: a copy left from an earlier build may be newer than this library.
        shutil.copy2(lib, dest)


class WithLibrary(Distribution):
    """A distribution that holds machine code: installed into platlib, wheel not pure."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """A wheel for this platform only: the library is machine code, the Python is not tied to
    one interpreter (ctypes, no extension module), hence py3-none-<platform>."""

    def get_tag(self):
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(distclass=WithLibrary, cmdclass={"build_py": BuildWithLibrary, "bdist_wheel": PlatformWheel})
