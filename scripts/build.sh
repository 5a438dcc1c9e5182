#!/usr/bin/env bash
# Builds the worker (build/index.js + build/index_bg.wasm) without downloading anything:
# worker-build would fetch wasm-bindgen and wasm-opt from GitHub, which is unreachable offline,
# so the locally installed binaries are handed to it. wrangler runs this as its [build] command,
# several times at start-up and on every file event; the lock serialises those runs and a build
# that is already newer than every source is skipped.
#   KENAR_BUILD_FAST=1   skip wasm-opt (dev loop: ~3 s instead of ~11 s per rebuild)
#   KENAR_BUILD_FORCE=1  rebuild even when the output looks fresh
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p build
exec 9>build/.lock
flock 9

out=build/index_bg.wasm
stamp=build/.profile
profile=$([ "${KENAR_BUILD_FAST:-0}" = 1 ] && echo fast || echo release)
if [ "${KENAR_BUILD_FORCE:-0}" != 1 ] && [ -f "$out" ] && [ -f build/index.js ] \
   && [ "$(cat "$stamp" 2>/dev/null)" = "$profile" ] \
   && [ -z "$(find src Cargo.toml Cargo.lock -newer "$out" -print -quit)" ]; then
  exit 0
fi

export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$HOME/.cargo/bin/wasm-bindgen}"
export ESBUILD_BIN="${ESBUILD_BIN:-$PWD/node_modules/.bin/esbuild}"
export WASM_OPT_BIN="${WASM_OPT_BIN:-$PWD/node_modules/.bin/wasm-opt}"
args=(--release)
[ "$profile" = fast ] && args+=(--no-opt)

for tool in "$WASM_BINDGEN_BIN" "$ESBUILD_BIN" "$WASM_OPT_BIN"; do
  [ -x "$tool" ] || { echo "build.sh: $tool is missing; run scripts/setup.sh" >&2; exit 1; }
done
"$HOME/.cargo/bin/worker-build" "${args[@]}"
echo "$profile" > "$stamp"
