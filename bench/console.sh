#!/usr/bin/env bash
# Console and login figures (issue 6):
#  - argon2id cost of one passphrase hash with the pinned parameters (BenchmarkHash), and
#    the whole-login throughput (user lookup + argon2id + session row) from parallel
#    clients (BenchmarkLogin, reports logins/s);
#  - the dashboard's page weight and time to first render in headless Chromium, read from
#    the browser's performance timing by the end-to-end console test (5 loads: the first
#    with an empty cache).
#
#   bash bench/console.sh
#
# Needs Go and Debian's chromium (scripts/test installs it). Everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== argon2id and login throughput (2 hashes at a time by design: 2 x 64 MiB)"
go test ./identity -run '^$' -bench 'Hash$|Login' -benchtime 40x | grep -E '^Benchmark'
echo "== dashboard in headless Chromium"
TRUNKLINE_REQUIRE_PEERS=1 go test ./cmd/trunkline -run '^TestConsoleE2E$' -count=1 -v 2>&1 |
  grep -E 'console dashboard timing|^(--- |ok|FAIL)' | sed 's/^ *e2e_console_test.go:[0-9]*: //'
