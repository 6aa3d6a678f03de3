#!/usr/bin/env bash
# Install the Debian packages Haven needs when they are missing.
# Usage: scripts/system-deps.sh [test]   ("test" adds what the test suite needs)
set -euo pipefail

need=()
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3-venv)
command -v sqlite3 >/dev/null 2>&1 || need+=(sqlite3)
# the web front end's packages (three.js) come from npm
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ "${1:-}" = "test" ]; then
  # browser tests drive Debian's Chromium (WebGL through SwiftShader)
  [ -x /usr/bin/chromium ] || need+=(chromium fonts-liberation)
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing system packages: ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
