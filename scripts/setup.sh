#!/usr/bin/env bash
# Installs what building, running and testing need, on a machine with only Rust and Node.
# Idempotent: each step checks first and is a no-op when already done. Nothing is downloaded
# from GitHub; only crates.io, npm and (for browser tests) Debian packages are used.
#   scripts/setup.sh            tools for building and running the worker and the simulator
#   scripts/setup.sh --browser  also Chromium for the browser tests
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  say "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

# It prints a bare version ("0.8.7"); match the word, whatever surrounds it.
if ! worker-build --version 2>/dev/null | grep -qw "0\.8\.7"; then
  say "installing worker-build 0.8.7 (a few minutes, once)"
  cargo install worker-build --version 0.8.7 --locked
fi

# The CLI must equal the wasm-bindgen crate in Cargo.lock to the patch level.
want=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/version = |"/,""); print; exit}' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (a few minutes, once)"
  # Not --locked: one of its locked dependencies is no longer in the index.
  cargo install wasm-bindgen-cli --version "$want"
fi

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm packages (wrangler, wasm-opt, test tools)"
  npm ci --no-audit --no-fund
fi

# Chromium for the browser tests, and an emoji font so screenshots show the chat as people see it.
if [ "${1:-}" = "--browser" ] && { ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-color-emoji >/dev/null 2>&1; }; then
  say "installing Debian's Chromium and emoji font for the browser tests"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null
fi
