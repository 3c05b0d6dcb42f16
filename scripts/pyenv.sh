#!/bin/sh
# Makes the Python environment the binding's tests run in: a virtual environment in DIR with
# numpy and gymnasium from PyPI and the usersim package (env/python) installed the way a user
# installs it (pip install, not editable). Steps are reported on stderr; on success the last
# thing written to stdout is the environment's python, so callers can do
#   py=$(sh scripts/pyenv.sh build/pyenv) && USERSIM_PYTHON=$py ...
# A second run with nothing changed only checks that everything imports (well under a second).
# The package is reinstalled when any file under env/python changes. It is built from a copy,
# so the source tree gets no build/ or *.egg-info folders; the copy's build step runs make for
# libusersim.so in the folder that holds DIR (build/ by default, as make test has it), so the
# library the tests already built is the one bundled, with nothing compiled again.
# USERSIM_PY_EXTRA adds requirements (make test makes build/rlenv with stable-baselines3 and
# sb3-contrib, which bring PyTorch: some 5 GB and 4 minutes the first time).
# Usage: scripts/pyenv.sh [DIR]   (default: build/pyenv)
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
pkg="$root/env/python"
dir=${1:-build/pyenv}
py="$dir/bin/python"
# What the tests need from PyPI; setuptools and wheel build the package offline.
reqs="numpy>=1.23 gymnasium>=1.1,<2 setuptools>=61 wheel${USERSIM_PY_EXTRA:+ $USERSIM_PY_EXTRA}"

say() { echo "pyenv: $*" >&2; }
die() { echo "pyenv: $*" >&2; exit 1; }

[ -f "$pkg/pyproject.toml" ] || die "$pkg/pyproject.toml is missing"
command -v python3 >/dev/null 2>&1 || die "python3 is needed: sudo apt-get install python3"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum (coreutils) is needed"

# The package's files and the requirements, hashed: the environment is current when the stamp
# holds this hash and everything imports.
stamp="$dir/usersim-stamp"
# What a build in place leaves there (make wheel: build/, usersim.egg-info/) is not the package.
want=$( (echo "$reqs"; cd "$pkg" && find . -type f ! -path '*/__pycache__/*' ! -name '*.pyc' \
  ! -path './build/*' ! -path './*.egg-info/*' \
  | LC_ALL=C sort | xargs sha256sum) | sha256sum | cut -d ' ' -f 1)
if [ -x "$py" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] &&
  "$py" -c 'import numpy, gymnasium, usersim' >/dev/null 2>&1; then
  say "$dir is up to date"
  echo "$py"
  exit 0
fi

start=$(date +%s)
tmp=$(mktemp -d) || die "cannot make a temporary folder"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP
pip() {
  "$py" -m pip --disable-pip-version-check --no-input "$@"
}

if ! [ -x "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
  # Only a folder that venv made (or none) is replaced.
  if [ -e "$dir" ] && ! [ -f "$dir/pyvenv.cfg" ]; then
    die "$dir exists and is not a virtual environment; remove it or choose another folder"
  fi
  rm -rf "$dir"
  version=$(python3 --version 2>&1) || die "python3 does not run: $version"
  say "creating a virtual environment in $dir ($version)"
  mkdir -p "$(dirname "$dir")" || die "cannot create $(dirname "$dir")"
  if ! python3 -m venv "$dir" >"$tmp/venv.log" 2>&1; then
    rm -rf "$dir"
    # Debian ships venv's pip bootstrap in its own package, python3-venv.
    if command -v dpkg >/dev/null 2>&1 && ! dpkg -s python3-venv >/dev/null 2>&1; then
      if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        die "python3 -m venv needs python3-venv: sudo apt-get install python3-venv"
      fi
      say "installing python3-venv"
      export DEBIAN_FRONTEND=noninteractive
      { apt-get update -q && apt-get install -y --no-install-recommends python3-venv; } \
        >/dev/null || die "'apt-get install python3-venv' failed"
    fi
    if ! python3 -m venv "$dir" >"$tmp/venv.log" 2>&1; then
      tail -n 6 "$tmp/venv.log" | sed 's/^/  venv: /' >&2
      rm -rf "$dir"
      die "python3 -m venv $dir failed"
    fi
  fi
fi

say "installing $reqs from PyPI"
# shellcheck disable=SC2086 # the requirements are separate words
if ! pip install --retries 2 --timeout 30 $reqs >"$tmp/pip.log" 2>&1; then
  tail -n 6 "$tmp/pip.log" | sed 's/^/  pip: /' >&2
  die "pip could not install $reqs (no network? set PIP_INDEX_URL to a mirror)"
fi
say "installing usersim from env/python"
cp -R "$pkg" "$tmp/src" || die "cannot copy $pkg"
rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info
build=$(cd "$(dirname "$dir")" && pwd) || die "cannot find the folder that holds $dir"
if ! env USERSIM_SOURCE="$root" USERSIM_BUILD="$build" "$py" -m pip \
  --disable-pip-version-check --no-input install --no-deps --no-build-isolation \
  --force-reinstall "$tmp/src" >"$tmp/pip.log" 2>&1; then
  tail -n 12 "$tmp/pip.log" | sed 's/^/  pip: /' >&2
  die "pip could not install env/python"
fi
versions=$("$py" -c 'import numpy, gymnasium, usersim
print("numpy", numpy.__version__, "gymnasium", gymnasium.__version__,
      "usersim", usersim.__version__)' 2>&1) || die "the environment does not import: $versions"
echo "$want" >"$stamp"
say "ready in $(($(date +%s) - start)) s: $versions"
echo "$py"
