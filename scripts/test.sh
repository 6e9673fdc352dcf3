#!/usr/bin/env bash
# Installs what the tests need, builds everything and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh test
# The CLI tests run the built `sitesync` binary, so build it before the tests.
swift build --build-tests
# Everything in parallel, then — alone, one at a time — the suites named `…AloneTests`: heavy ones whose load
# would make other tests' timings flaky, and the latency promises that need a quiet machine to mean anything.
swift test --skip-build --skip AloneTests
swift test --skip-build --no-parallel --filter AloneTests
