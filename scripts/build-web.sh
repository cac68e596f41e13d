#!/usr/bin/env bash
# Builds the browser meeting client's bundle (web/meeting/dist, embedded by package meetingui):
# installs the pinned npm dependencies (npm ci, from package-lock.json) and runs esbuild.
# Needs node and npm (Debian packages nodejs and npm). Commit dist/ after a change to src/.
set -euo pipefail
cd "$(dirname "$0")/../web/meeting"
npm ci --no-audit --no-fund
node build.mjs dist
echo "built web/meeting/dist: $(ls dist | tr '\n' ' ')"
