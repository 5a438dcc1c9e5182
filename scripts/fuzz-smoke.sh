#!/usr/bin/env bash
# A short smoke pass of every fuzz target in fuzz/: each replays its committed inputs
# (fuzz/seeds/<target>, and fuzz/corpus/<target> when present) and then fuzzes for
# FUZZ_SMOKE_SECS seconds (default 2). New inputs go to a temporary directory, never into the
# repository. A crash fails the script; its input is left in fuzz/artifacts/<target>/.
# The long campaigns are run by hand: see fuzz/README.md.
#
# Installs what it needs, idempotently: the nightly toolchain (minimal profile) and cargo-fuzz
# (from crates.io). A machine that can install neither skips the pass and says so.
# Usage: scripts/fuzz-smoke.sh [target ...]     (default: every target)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root/fuzz"
secs="${FUZZ_SMOKE_SECS:-2}"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz-smoke: installing the nightly toolchain (cargo-fuzz needs it)"
  if ! rustup toolchain install nightly --profile minimal; then
    echo "fuzz-smoke: SKIPPED: no nightly toolchain here and none could be installed"
    exit 0
  fi
fi
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "fuzz-smoke: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# Plain Rust: no sanitizer (it slows the SQLite-backed router sixfold and finds nothing that
# safe Rust can do). A debug build for a smoke pass: it compiles in about half the time of the
# release build the long campaigns use (fuzz/README.md), and a few seconds per target need no
# speed. FUZZ_SMOKE_RELEASE=1 builds as the campaigns do.
build_flags=(-s none)
[ "${FUZZ_SMOKE_RELEASE:-0}" = 1 ] || build_flags+=(--dev)
cargo +nightly fuzz build "${build_flags[@]}"

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo +nightly fuzz list)
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
  case "$t" in handle_*) dict=handle ;; *) dict="$t" ;; esac
  extra=()
  [ "$t" = router ] && extra+=(-max_len=8192)
  [ -f "dict/$dict.dict" ] && extra+=("-dict=dict/$dict.dict")
  inputs=("$scratch/$t")
  for d in "seeds/$t" "corpus/$t"; do [ -d "$d" ] && inputs+=("$d"); done
  mkdir -p "$scratch/$t"
  echo "fuzz-smoke: $t (${secs}s)"
  if ! cargo +nightly fuzz run "${build_flags[@]}" "$t" "${inputs[@]}" -- \
    -max_total_time="$secs" -timeout=10 "${extra[@]}" >"$scratch/$t.log" 2>&1; then
    failed+=("$t")
    grep -E "panicked|SUMMARY|Test unit written" -A3 "$scratch/$t.log" | head -20 || true
  else
    grep -E "^Done" "$scratch/$t.log" || true
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz-smoke: FAILED: ${failed[*]} (inputs in fuzz/artifacts/)"
  exit 1
fi
echo "fuzz-smoke: ${#targets[@]} targets, no crash"
