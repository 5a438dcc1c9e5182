#!/usr/bin/env bash
# Runs every test: lints, the worker's native unit tests, the simulator's tests, clients
# written against real Divar run against the simulator (Divar's official Python SDK, kenarbot,
# Schemathesis; scripts/sdk-test.sh), a fuzz smoke pass over every parser of outside input, the wasm build
# with its size budget, and the end-to-end and browser tests (real worker on `wrangler dev`
# against the simulator, driven over HTTP and in headless Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --browser

started=$SECONDS
step() { printf '\n\033[1m== %s\033[0m (at %dm%02ds)\n' "$*" $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60)); }
trap 'rc=$?; printf "\n== test.sh exit %d after %dm%02ds\n" $rc $(((SECONDS - started) / 60)) $(((SECONDS - started) % 60))' EXIT

step "format and lints"
cargo fmt --all -- --check
cargo fmt --manifest-path divar-sim/Cargo.toml --all -- --check
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown --lib -- -D warnings
cargo clippy --quiet --manifest-path divar-sim/Cargo.toml --all-targets -- -D warnings

step "worker unit tests (native)"
cargo test --quiet

step "simulator tests"
cargo test --quiet --manifest-path divar-sim/Cargo.toml

step "clients written against real Divar, against divar-sim (official SDK, kenarbot, Schemathesis)"
bash scripts/sdk-test.sh

step "fuzz smoke (every parser of outside input, a few seconds each)"
bash scripts/fuzz-smoke.sh

step "wasm build and upload size budget"
bash scripts/build.sh
bash scripts/size-budget.sh

step "end-to-end and browser tests"
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false
node --test --test-concurrency=1 tests/e2e/
