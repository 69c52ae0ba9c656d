#!/usr/bin/env bash
# Rebuilds graphiql/vendor/ from the npm registry: each pinned package is
# fetched with `npm pack`, its tarball checked against the integrity pinned
# here, and the published browser builds copied out unchanged. The result
# must match vendor/SHA256SUMS byte for byte (a Rust test checks the same
# hashes against what the binary embeds).
#
#   graphiql/build.sh           rebuild vendor/ and licenses/, then check them
#   graphiql/build.sh --check   fetch and compare with vendor/, writing nothing (CI)
#   graphiql/build.sh --update  rebuild and record new hashes: after changing
#                               the pins; review the diff of SHA256SUMS
set -euo pipefail
cd "$(dirname "$0")"
mode=${1:-build}

# package@version, the tarball's integrity (the registry's dist.integrity)
PACKAGES=(
    "react@18.3.1 sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ=="
    "react-dom@18.3.1 sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw=="
    "graphiql@4.1.2 sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg=="
)
# package@version, its file, the name under vendor/
FILES=(
    "react@18.3.1 umd/react.production.min.js react.production.min.js"
    "react-dom@18.3.1 umd/react-dom.production.min.js react-dom.production.min.js"
    "graphiql@4.1.2 graphiql.min.js graphiql.min.js"
    "graphiql@4.1.2 graphiql.min.css graphiql.min.css"
)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for entry in "${PACKAGES[@]}"; do
    read -r spec integrity <<<"$entry"
    mkdir -p "$tmp/$spec"
    tarball=$(cd "$tmp/$spec" && npm pack --silent "$spec" | tail -n1)
    actual="sha512-$(openssl dgst -sha512 -binary "$tmp/$spec/$tarball" | base64 -w0)"
    if [ "$actual" != "$integrity" ]; then
        echo "$spec: the registry's tarball is $actual, not the pinned $integrity" >&2
        exit 1
    fi
    tar -xzf "$tmp/$spec/$tarball" -C "$tmp/$spec"
    # MIT asks that the notice travel with the code.
    if [ "$mode" = --check ]; then
        cmp "$tmp/$spec/package/LICENSE" "licenses/${spec%@*}.txt"
    else
        cp "$tmp/$spec/package/LICENSE" "licenses/${spec%@*}.txt"
    fi
done

names=()
for entry in "${FILES[@]}"; do
    read -r spec file name <<<"$entry"
    names+=("$name")
    if [ "$mode" = --check ]; then
        cmp "$tmp/$spec/package/$file" "vendor/$name"
    else
        cp "$tmp/$spec/package/$file" "vendor/$name"
    fi
done

cd vendor
if [ "$mode" = --update ]; then
    sha256sum "${names[@]}" >SHA256SUMS
fi
sha256sum --check --strict SHA256SUMS
