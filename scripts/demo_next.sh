#!/bin/sh
# The three commands a new user runs after `make demo`, printed for the demo's own paths (the
# Makefile's demo target ends with it; tests/test_cli_config.c runs each command it prints).
# Usage: scripts/demo_next.sh BIN STORE RUNS AGENT STEPS
#   BIN the usersim binary; STORE the demo's store; RUNS the folder of its training runs;
#   AGENT an agent the demo trained into RUNS/AGENT, for STEPS env steps.
set -eu
[ $# -eq 5 ] || { echo "usage: scripts/demo_next.sh BIN STORE RUNS AGENT STEPS" >&2; exit 2; }
bin=$1 store=$2 runs=$3 agent=$4 steps=$5
echo
echo "next:"
echo "# recommend items to one simulated user and see why they react ('help' lists the commands):"
echo "$bin play $store --user '#0'"
echo "# train $agent ten times longer: its run continues from the checkpoint, bit for bit:"
echo "$bin train $store --agent $agent --out $runs/$agent --resume --steps $((steps * 10))"
echo "# a simulated A/B test of the popularity baseline (A) against the trained $agent (B):"
echo "$bin ab $store --a popular --b $runs/$agent"
