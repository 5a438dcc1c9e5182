#!/usr/bin/env bash
# Runs the add-on locally: the Divar simulator on :8790 and the worker on `wrangler dev` :8787
# with local KV, wired together. Open the printed URL, start a chat, and launch the add-on.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

[ -f .dev.vars ] || { cp .dev.vars.example .dev.vars; echo "[dev] created .dev.vars from .dev.vars.example"; }

SIM_PORT=${DIVAR_SIM_PORT:-8790}
APP_PORT=${KENAR_APP_PORT:-8787}
echo "[dev] building the Divar simulator"
cargo build --quiet --manifest-path divar-sim/Cargo.toml

pids=()
cleanup() { for pid in "${pids[@]}"; do kill -- "-$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

set -m
divar-sim/target/debug/divar-sim --port "$SIM_PORT" --app-base "http://127.0.0.1:$APP_PORT" &
pids+=($!)
export WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false KENAR_BUILD_FAST=1
npx wrangler dev --ip 127.0.0.1 --port "$APP_PORT" --inspector-port 9229 \
  --var "PUBLIC_BASE_URL:http://127.0.0.1:$APP_PORT" \
  --var "KENAR_API_BASE:http://127.0.0.1:$SIM_PORT" --var "KENAR_OAUTH_BASE:http://127.0.0.1:$SIM_PORT" \
  --var "DIVAR_COMPLETION_URL:http://127.0.0.1:$SIM_PORT/completion" &
pids+=($!)
set +m

for _ in $(seq 1 240); do
  curl -fs "http://127.0.0.1:$APP_PORT/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
cat <<MSG

  ┌──────────────────────────────────────────────────────────────────────┐
    kenar-edge is running against the local Divar simulator.
    Open  http://127.0.0.1:$SIM_PORT/  and launch the add-on from a chat.
    (worker: http://127.0.0.1:$APP_PORT   ·   Ctrl-C stops both)
  └──────────────────────────────────────────────────────────────────────┘

MSG
wait
