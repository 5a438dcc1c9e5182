#!/usr/bin/env bash
# Clients written against real Divar, run against divar-sim (tests/sdk/, pytest):
#   - Divar's official Python SDK, regenerated from the OpenAPI the simulator vendors with the
#     generator it names (OpenAPI Generator 7.13, from PyPI's openapi-generator-cli, which ships
#     the jar and needs a Java runtime);
#   - kenarbot, a third-party bot SDK from PyPI, as an echo bot behind the simulator's events URL;
#   - Schemathesis with that OpenAPI: every documented operation, no 5xx, answers that conform.
# Installs what it needs, idempotently: a Java runtime (Debian's default-jre-headless) when none
# is found, python3-venv when venv is missing, and a virtualenv in target/sdk-venv from tests/sdk/requirements.txt (pinned). The
# generated client is kept in target/kenar-sdk and made again only when the OpenAPI changes.
# Usage: scripts/sdk-test.sh [--setup-only | pytest args…]
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
venv="$root/target/sdk-venv"
spec="$root/divar-sim/spec/openapi-v3.json"
reqs="$root/tests/sdk/requirements.txt"

if ! java -version >/dev/null 2>&1; then
  echo "sdk-test: installing a Java runtime (the OpenAPI Generator jar runs on it)"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq default-jre-headless >/dev/null
fi

if [ ! -x "$venv/bin/python" ]; then
  if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    # Debian splits venv (ensurepip) out of python3.
    echo "sdk-test: installing python3-venv"
    rm -rf "$venv"
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq python3 python3-venv >/dev/null
    python3 -m venv "$venv"
  fi
fi
# Reinstall only when the pins change.
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$reqs" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
  echo "$want" > "$stamp"
fi

client="$root/target/kenar-sdk"
client_stamp="$client/.spec.sha256"
spec_sum="$(sha256sum "$spec" | cut -d' ' -f1)"
if [ "$(cat "$client_stamp" 2>/dev/null)" != "$spec_sum" ]; then
  rm -rf "$client"
  "$venv/bin/openapi-generator-cli" generate --input-spec "$spec" --generator-name python \
    --output "$client" --package-name kenar_api_client \
    --additional-properties=packageVersion=0.0.0 >/dev/null
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$client"
  echo "$spec_sum" > "$client_stamp"
fi

# `--setup-only`: install and generate, run nothing (tests/e2e/kenarbot_pane.test.mjs uses the
# virtualenv's kenarbot for its echo bot).
[ "${1:-}" = "--setup-only" ] && exit 0

cargo build --quiet --manifest-path divar-sim/Cargo.toml
cd tests/sdk
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
