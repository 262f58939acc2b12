#!/bin/sh
# Re-fetch the vendored renderer from npm (run in this directory; needs npm and tar).
# Pinned versions; compare the printed sha256 with README.md.
set -eu
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unpack() {  # unpack NAME VERSION: the npm package into $tmp/NAME-VERSION/package
    (cd "$tmp" && npm pack --silent "$1@$2" >/dev/null)
    mkdir -p "$tmp/$1-$2"
    tar xzf "$tmp/$1-$2.tgz" -C "$tmp/$1-$2"
}
for pkg in vega@5.33.1 vega-lite@5.21.0 vega-embed@6.29.0 vega-interpreter@1.2.1; do
    name=${pkg%@*}
    version=${pkg#*@}
    unpack "$name" "$version"
    cp "$tmp/$name-$version/package/build/$name.min.js" "./$name.min.js"
    if [ -f "$tmp/$name-$version/package/LICENSE" ]; then
        cp "$tmp/$name-$version/package/LICENSE" "./$name.LICENSE"
    fi
done
# vega@5.33.1 and vega-interpreter@1.2.1 (the security fix release pair) ship no LICENSE
# file; their package.json says BSD-3-Clause, and the licence text is the one shipped
# with the release before (vega@5.33.0, identical in vega-interpreter@1.2.0).
unpack vega 5.33.0
cp "$tmp/vega-5.33.0/package/LICENSE" ./vega.LICENSE
cp "$tmp/vega-5.33.0/package/LICENSE" ./vega-interpreter.LICENSE
sha256sum ./*.min.js
