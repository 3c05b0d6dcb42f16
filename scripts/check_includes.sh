#!/bin/sh
# Checks that #include "..." lines point downwards (DESIGN.md, "Rooms"). Run by `make test`
# before the tests; exits 1, naming file:line, on the first and every further violation.
#
# Rooms, lowest first: core < datasets < the simulator's sub-rooms (simulator/keywords,
# simulator/embed, simulator/sasrec, simulator/interests; side by side) < simulator (its root
# folder) < env < agents < experiments < cli. tests/ is not checked: it may include anything.
# A file of a room may include
#   - any header of its own room or sub-room (generated ones, such as the prompts.inc that make
#     writes into the build folder, included);
#   - the public header of a room below it: core/core.h and core/nn.h, datasets/datasets.h,
#     simulator/<sub>/<sub>.h, simulator/simulator.h, env/env.h, agents/agents.h,
#     experiments/experiments.h;
#   - in a sub-room, the public header of a sibling sub-room.
# Everything else fails: a header of a room above, another room's private header, a header of
# tests/ or of no room. Angle-bracket includes (libc, libraries) are not looked at.
# Usage: scripts/check_includes.sh [ROOT]   (ROOT: the repository, default the current folder)
set -eu
cd "${1:-.}"

dirs=
for d in core datasets simulator env agents experiments cli; do
    [ -d "$d" ] && dirs="$dirs $d"
done
[ -n "$dirs" ] || { echo "check_includes: no room folders under $(pwd)" >&2; exit 1; }

# $dirs is a list of folder names without spaces; the awk program is in single quotes on purpose.
# shellcheck disable=SC2086,SC2016
find $dirs -type f \( -name '*.c' -o -name '*.h' \) ! -path '*/build/*' | LC_ALL=C sort |
    xargs awk '
function room(path,    n, p) {
    n = split(path, p, "/")
    if (p[1] == "simulator" && n >= 3 &&
        (p[2] == "keywords" || p[2] == "embed" || p[2] == "sasrec" || p[2] == "interests"))
        return "simulator/" p[2]
    if (n >= 2 && (p[1] in level)) return p[1]
    return ""
}
BEGIN {
    level["core"] = 0; level["datasets"] = 1
    level["simulator/keywords"] = 2; level["simulator/embed"] = 2
    level["simulator/sasrec"] = 2; level["simulator/interests"] = 2
    level["simulator"] = 3; level["env"] = 4; level["agents"] = 5
    level["experiments"] = 6; level["cli"] = 7
    public["core/core.h"] = "core"; public["core/nn.h"] = "core"
    public["datasets/datasets.h"] = "datasets"
    public["simulator/keywords/keywords.h"] = "simulator/keywords"
    public["simulator/embed/embed.h"] = "simulator/embed"
    public["simulator/sasrec/sasrec.h"] = "simulator/sasrec"
    public["simulator/interests/interests.h"] = "simulator/interests"
    public["simulator/simulator.h"] = "simulator"
    public["env/env.h"] = "env"; public["agents/agents.h"] = "agents"
    public["experiments/experiments.h"] = "experiments"
    bad = 0
}
FNR == 1 { from = room(FILENAME); dir = FILENAME; sub(/\/[^\/]*$/, "", dir) }
/^[ \t]*#[ \t]*include[ \t]*"/ {
    target = $0
    sub(/^[^"]*"/, "", target)
    sub(/".*$/, "", target)
    # A name without a folder is found beside the including file first.
    if (target !~ /\//) target = dir "/" target
    to = room(target)
    why = ""
    if (to == "") why = "a header of no room (tests/ or elsewhere)"
    else if (to == from) why = ""
    else if (level[to] > level[from]) why = "a header of " to "/, a room above " from "/"
    else if (level[to] == level[from] && !(from ~ /^simulator\// && to ~ /^simulator\//))
        why = "a header of " to "/, a room beside " from "/"
    else if (!(target in public)) why = "a private header of " to "/ (its public one is " \
        "the only way in)"
    if (why != "") {
        printf "%s:%d: includes \"%s\": %s\n", FILENAME, FNR, target, why
        bad = 1
    }
}
END { exit bad }
' || {
    echo "check_includes: includes must point downwards (DESIGN.md, Rooms; rules in" \
         "scripts/check_includes.sh)" >&2
    exit 1
}
