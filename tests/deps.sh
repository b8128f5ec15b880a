#!/usr/bin/env bash
# Installs the Debian 12 packages pipehost needs to build (and, with
# --test, to run its test suite), skipping what is already there.
# Sourced or run by tests/run_all.sh and examples/run_demo.sh.
set -euo pipefail
PH_BUILD_DEPS=(cmake ninja-build gcc libc6-dev pkg-config ca-certificates
  libglib2.0-dev libjson-glib-dev liblua5.4-dev libyaml-dev libsqlite3-dev
  libcurl4-openssl-dev libpq-dev libxgboost-dev liblinear-dev
  libsoup-3.0-dev libgraphviz-dev)
# make builds the SDK skeleton in a test; util-linux (flock) and mount
# serve the trust tests (a tmpfs for the full disk, a read-only bind)
# the integration tests start a real PostgreSQL, SMTP server (aiosmtpd, with
# a self-signed certificate) and an HTTP server (python3 stdlib)
# clang + its runtime: the warning check on a second compiler and libFuzzer
# munge + Slurm: a real single-node Slurm for the Slurm executor's tests
PH_TEST_DEPS=(python3 lua5.4 postgresql-15 python3-aiosmtpd openssl curl
  python3-jsonschema python3-prometheus-client
  chromium chromium-driver python3-selenium
  python3-sklearn python3-xgboost python3-numpy
  clang libclang-rt-14-dev abigail-tools valgrind
  make util-linux mount
  munge slurmctld slurmd slurm-client)
want=("${PH_BUILD_DEPS[@]}")
[ "${1:-}" = "--test" ] && want+=("${PH_TEST_DEPS[@]}")
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "pipehost: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >&2
fi
