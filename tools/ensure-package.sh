#!/usr/bin/env bash
# Make sure a tool the tests drive exists, installing its Debian package as root if not.
#   tools/ensure-package.sh COMMAND_OR_PATH PACKAGE WHY [HINT]
# The browser tests drive the system Chromium (never a browser build of Playwright's
# own); the agent's tests compare it with atop itself.
set -euo pipefail
WHAT="$1"; PACKAGE="$2"; WHY="$3"; HINT="${4:-}"
if [ -x "$WHAT" ] || command -v "$WHAT" >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing $PACKAGE from the distribution's packages (apt-get install $PACKAGE)…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$PACKAGE" >/dev/null
  exit 0
fi
echo "$WHY need $WHAT (Debian/Ubuntu: sudo apt-get install $PACKAGE)${HINT:+, $HINT}." >&2
exit 1
