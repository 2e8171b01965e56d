#!/usr/bin/env bash
# Renders a run's report.html (and each chart SVG) in headless Chromium and saves PNG screenshots,
# so a person can look at the report as a reader would. Needs Debian's `chromium` (or CHROMIUM=path).
#
#   bash scripts/screenshot-report.sh RUN_DIR [OUT_DIR]     # OUT_DIR defaults to RUN_DIR/screenshots
set -euo pipefail
run="${1:?usage: scripts/screenshot-report.sh RUN_DIR [OUT_DIR]}"
out="${2:-$run/screenshots}"
chromium="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
[[ -n "$chromium" ]] || { echo "error: Chromium not found (apt-get install chromium, or set CHROMIUM)" >&2; exit 2; }
[[ -f "$run/report.html" ]] || { echo "error: $run/report.html not found (run: seqbench report $run)" >&2; exit 2; }
mkdir -p "$out"
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
shot() { # FILE WIDTH HEIGHT PNG
  "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --user-data-dir="$profile" --hide-scrollbars --window-size="$2,$3" \
    --screenshot="$4" "file://$(realpath "$1")" >/dev/null 2>&1
  echo "$4"
}
shot "$run/report.html" 1100 6000 "$out/report.png"
for svg in "$run"/*.svg; do
  [[ -e "$svg" ]] || continue
  size=$(grep -o '<svg[^>]*' "$svg" | head -1)
  w=$(sed -E 's/.*width="([0-9]+)".*/\1/' <<<"$size"); h=$(sed -E 's/.*height="([0-9]+)".*/\1/' <<<"$size")
  shot "$svg" "${w:-960}" "${h:-500}" "$out/$(basename "${svg%.svg}").png"
done
