#!/usr/bin/env bash
# The commit stamp cannot go stale: a temporary clone of this repository is built into this
# checkout's target directory (shared, as .ci/run's baseline worktree shares it), then committed to,
# edited and committed again, rebuilding each time; after each build the binary's own `seqbench env`
# must name the clone's HEAD (with -dirty exactly when its sources are uncommitted) and its sha256 must
# be the file's. Last, this checkout is rebuilt and must name its own HEAD again.
# Usage: scripts/provenance-e2e.sh     (about 5 incremental builds of seqbench; run from .ci/run)
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
target="$root/target"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
git clone --quiet "$root" "$tmp/clone"
fail=0

# CHECKOUT EXPECTED_COMMIT: builds CHECKOUT into the shared target and checks the stamp.
check() {
  local dir="$1" want="$2"
  (cd "$dir" && cargo build --release --quiet --target-dir "$target" --bin seqbench)
  local json got sha file_sha
  json="$("$target/release/seqbench" env --json --no-calibration)"
  got="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["build"]["git_commit"])' <<<"$json")"
  sha="$(python3 -c 'import json,sys; print(json.load(sys.stdin)["build"]["binary_sha256"])' <<<"$json")"
  file_sha="$(sha256sum "$target/release/seqbench" | cut -d' ' -f1)"
  if [[ "$got" == "$want" && "$sha" == "$file_sha" ]]; then
    echo "ok: $dir -> $got, sha256 ${sha:0:16}"
  else
    echo "FAIL: $dir: the binary says commit $got (want $want), sha256 ${sha:0:16} (file ${file_sha:0:16})" >&2
    fail=1
  fi
}
head_of() { git -C "$1" rev-parse --short=12 HEAD; }
dirty_of() { # a checkout's stamp as build.rs makes it
  local c; c="$(head_of "$1")"
  if [[ -n "$(git -C "$1" status --porcelain --untracked-files=no -- src configs Cargo.toml Cargo.lock build.rs)" ]]; then
    echo "$c-dirty"
  else
    echo "$c"
  fi
}

c="$tmp/clone"
git -C "$c" config user.email provenance@test && git -C "$c" config user.name provenance-test
check "$c" "$(head_of "$c")"
# This checkout right after the clone, nothing touched in either (the clone still exists).
check "$root" "$(dirty_of "$root")"
check "$c" "$(head_of "$c")"
# A commit that changes no source: only HEAD's ref moves.
git -C "$c" commit --quiet --allow-empty -m "provenance test: empty commit"
check "$c" "$(head_of "$c")"
# An uncommitted source change: -dirty.
echo "// provenance test" >>"$c/src/lib.rs"
check "$c" "$(head_of "$c")-dirty"
# Staged and committed: the index and the ref change, the sources do not.
git -C "$c" commit --quiet -am "provenance test: a source change"
check "$c" "$(head_of "$c")"
# Back to this checkout, in the same target directory.
check "$root" "$(dirty_of "$root")"
if [[ $fail -ne 0 ]]; then
  echo "provenance: a stale stamp" >&2
  exit 1
fi
echo "provenance: every build named its own commit"
