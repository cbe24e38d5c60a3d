#!/usr/bin/env bash
# plotly.js's basic bundle (trace types bar, scatter and pie: every one components/figures.py
# allows) for the charts, from the npm registry: 1.2 MB instead of the full 4.8 MB bundle that
# Dash serves — about 0.7 s less main-thread work on every page with a chart (docs/scale.md §7).
# api/plotly_bundle.py serves it where dcc.Graph asks for plotly.js.
#
# Pinned: the version of the plotly.js that the Python package `plotly` carries (the app
# checks the two agree) and the tarball's checksum. Idempotent. Without npm or the registry
# it says so and leaves the charts on the full bundle (the app logs that once).
set -euo pipefail
VERSION=4.1.1
SHA256=ea907f854b6cec4f6a2fa71540ec019a21ed2c61e6a109ddd5c072103a96eed0
DEST=vendor/plotly-basic.min.js

if [[ -f "$DEST" ]] && head -c 300 "$DEST" | grep -q "basic - minified) v$VERSION"; then
    exit 0
fi
if ! command -v npm >/dev/null; then
    echo "fetch_plotly_basic: npm not found; the charts use plotly.js's full bundle" >&2
    exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
if ! (cd "$tmp" && timeout 120 npm pack --silent --fetch-retries=1 --fetch-timeout=30000 \
        "plotly.js-basic-dist-min@$VERSION" >/dev/null 2>&1); then
    echo "fetch_plotly_basic: the npm registry did not answer; the charts use plotly.js's full bundle" >&2
    exit 0
fi
echo "$SHA256  $tmp/plotly.js-basic-dist-min-$VERSION.tgz" | sha256sum -c --quiet
tar -xzf "$tmp/plotly.js-basic-dist-min-$VERSION.tgz" -C "$tmp" package/plotly-basic.min.js package/LICENSE
mkdir -p vendor
mv "$tmp/package/plotly-basic.min.js" "$DEST.part" && mv "$DEST.part" "$DEST"
touch "$DEST"  # npm's files are dated 1985: make would fetch again on every install
cp "$tmp/package/LICENSE" vendor/plotly-basic.LICENSE
echo "fetch_plotly_basic: $DEST (plotly.js $VERSION basic, MIT licence in vendor/plotly-basic.LICENSE)"
