#!/usr/bin/env bash
# Installs what the tests need, builds everything and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
# The CLI tests run the built `sitesync` binary, so build it before the tests.
swift build --build-tests
swift test --skip-build
