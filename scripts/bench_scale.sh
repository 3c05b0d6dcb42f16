#!/bin/sh
# bench_scale.sh — the whole pipeline at a population size: synth, ingest, the stages of
# `usersim build` one by one (extract, embed, the SASRec rating head, the SASRec next-item
# head), `usersim build` again on the complete store (which must do nothing), and a vector-env
# run (`usersim eval`, random policy, every user). For each stage it prints the wall time, the
# peak resident size of the stage's process, the store's size after it, and for SASRec the
# training examples per second.
#
# Environment (all optional):
#   USERSIM_BIN     the command (default build/usersim)
#   SCALE_USERS     users (default 1000000); items SCALE_USERS/10 and reviews 10·SCALE_USERS
#                   unless SCALE_ITEMS / SCALE_REVIEWS say otherwise
#   SCALE_EMBED     hashed (default) or model: the sentence model (make models) for embed
#   SCALE_EPOCHS    SASRec epochs per head (default 1: the speed, not the model, is measured)
#   SCALE_THREADS   threads for SASRec and the vector env (default 2)
#   SCALE_EPISODES  vector-env sessions (default 20000)
#   SCALE_DIR       work folder (default build/scale-USERS; removed first, kept after)
# Times are of one run on whatever else the machine is doing; compare runs of one machine.
set -eu

BIN=${USERSIM_BIN:-build/usersim}
USERS=${SCALE_USERS:-1000000}
ITEMS=${SCALE_ITEMS:-$((USERS / 10))}
REVIEWS=${SCALE_REVIEWS:-$((USERS * 10))}
EMBED=${SCALE_EMBED:-hashed}
EPOCHS=${SCALE_EPOCHS:-1}
THREADS=${SCALE_THREADS:-2}
EPISODES=${SCALE_EPISODES:-20000}
DIR=${SCALE_DIR:-build/scale-$USERS}
PY=${PYTHON:-python3}

case $EMBED in
hashed) EMBED_OPT=--hashed; EMBED_SAYS="the hashed n-gram embedder (SCALE_EMBED=model for the sentence model)" ;;
model) EMBED_OPT=; EMBED_SAYS="the sentence model (all-MiniLM-L6-v2)" ;;
*) echo "bench-scale: SCALE_EMBED: expected hashed or model, found '$EMBED'" >&2; exit 2 ;;
esac
[ -x "$BIN" ] || { echo "bench-scale: no $BIN (run make first)" >&2; exit 2; }
command -v "$PY" >/dev/null || { echo "bench-scale: needs python3 to time the stages" >&2; exit 2; }

rm -rf "$DIR"
mkdir -p "$DIR"
STORE=$DIR/scale.usdb
TABLE=$DIR/stages.tsv
: >"$TABLE"

echo "bench-scale: $USERS users, $ITEMS items, $REVIEWS reviews; embed with $EMBED_SAYS;"
echo "bench-scale: SASRec $EPOCHS epoch(s) per head on $THREADS thread(s); work folder $DIR"

# stage NAME OUTFILE ARGS...: runs $BIN ARGS with its output in OUTFILE, appends
# "NAME wall_s peak_rss_kib store_bytes" to the table; stops the script when the stage fails.
stage() {
    name=$1 out=$2
    shift 2
    echo "bench-scale: $name: $BIN $*"
    "$PY" - "$TABLE" "$name" "$out" "$STORE" "$BIN" "$@" <<'EOF'
import os, resource, subprocess, sys, time
table, name, out, store, cmd = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
t0 = time.monotonic()
with open(out, "wb") as f:
    rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT)
wall = time.monotonic() - t0
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
size = os.path.getsize(store) if os.path.exists(store) else 0
if rc != 0:
    sys.stderr.write(open(out, errors="replace").read()[-3000:])
    sys.exit("bench-scale: %s failed (exit %d); its output is in %s" % (name, rc, out))
with open(table, "a") as f:
    f.write("%s\t%.1f\t%d\t%d\n" % (name, wall, rss, size))
EOF
}

stage synth "$DIR/synth.out" synth --users "$USERS" --items "$ITEMS" --reviews "$REVIEWS" \
    --out "$DIR/data"
stage ingest "$DIR/ingest.out" ingest --format amazon --reviews "$DIR/data/Synthetic_5.json.gz" \
    --meta "$DIR/data/meta_Synthetic.json.gz" --out "$STORE"
stage extract "$DIR/extract.out" extract "$STORE" --quiet
# shellcheck disable=SC2086 # EMBED_OPT is empty or one word
stage embed "$DIR/embed.out" embed "$STORE" $EMBED_OPT
stage sasrec-rating "$DIR/rating.json" train-sasrec "$STORE" --head rating --epochs "$EPOCHS" \
    --threads "$THREADS" --json
stage sasrec-next "$DIR/next.json" train-sasrec "$STORE" --head next --epochs "$EPOCHS" \
    --threads "$THREADS" --json
# shellcheck disable=SC2086
stage build-again "$DIR/build.out" build "$STORE" $EMBED_OPT
stage vector-env "$DIR/env.json" eval "$STORE" --policy random --population all \
    --episodes "$EPISODES" --threads "$THREADS" --json

"$PY" - "$TABLE" "$DIR" "$EPISODES" <<'EOF'
import json, sys
table, d, episodes = sys.argv[1], sys.argv[2], int(sys.argv[3])
rows = [l.rstrip("\n").split("\t") for l in open(table)]
extra = {}
for head, f in (("sasrec-rating", "rating.json"), ("sasrec-next", "next.json")):
    j = json.load(open("%s/%s" % (d, f)))
    j = j[0] if isinstance(j, list) else j
    extra[head] = "%.0f examples/s (%.1f s of training)" % (j["examples_per_s"], j["seconds"])
env = json.load(open(d + "/env.json"))
steps = episodes * env["policies"][0]["length"]["mean"]
wall = {r[0]: float(r[1]) for r in rows}
extra["vector-env"] = "%.0f steps in all, %.0f steps/s (store opening included)" % (
    steps, steps / wall["vector-env"])
build = open(d + "/build.out").read()
extra["build-again"] = "nothing to do" if "is complete" in build and "(kept)" in build \
    and "epoch" not in build else "did work: see " + d + "/build.out"
print("\n%-14s %10s %14s %12s  %s" % ("stage", "wall s", "peak RSS MiB", "store MB", ""))
for name, w, rss, size in rows:
    print("%-14s %10.1f %14.0f %12.1f  %s" % (name, float(w), int(rss) / 1024.0,
                                             int(size) / 1e6, extra.get(name, "")))
EOF
