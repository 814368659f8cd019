#!/usr/bin/env bash
# Make sure a system Chromium exists for the browser tests (Playwright drives it through
# its executable path; we never download a browser build of Playwright's own).
set -euo pipefail
CHROMIUM="${STOPHACKING_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium from the distribution's packages (apt-get install chromium)…"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  exit 0
fi
echo "The browser tests need a system Chromium at $CHROMIUM (Debian/Ubuntu: sudo apt-get install chromium)," >&2
echo "or set STOPHACKING_CHROMIUM to its path." >&2
exit 1
