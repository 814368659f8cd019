#!/usr/bin/env bash
# Make sure atop exists: the agent's tests compare its rows with atop's own for the same
# interval (tests/integration/agent/test_agent_vs_atop.py).
set -euo pipefail
if command -v atop >/dev/null; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing atop from the distribution's packages (apt-get install atop)…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq atop >/dev/null
  exit 0
fi
echo "The agent's tests need atop (Debian/Ubuntu: sudo apt-get install atop)." >&2
exit 1
