#!/usr/bin/env bash
# Installs what SiteSync needs, builds it and runs `sitesync demo`: a real sync in a throw-away studio.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh build
swift build --product sitesync
.build/debug/sitesync demo
