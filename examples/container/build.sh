#!/bin/sh
# Builds the example image: examples/container/build.sh [TAG]
#
# FROM scratch needs everything copied in, so this script prepares the build
# context: a static procman (CGO_ENABLED=0), a static busybox (Debian's
# busybox-static, or BUSYBOX=/path) linked as /bin/sh and its other applets,
# the example app compiled static, the app's Procfile and .env. Extra
# arguments for `podman build` can be given in PODMAN_BUILD_FLAGS.
set -eu

tag=${1:-localhost/procman-hello}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
busybox=${BUSYBOX:-/bin/busybox}

if ! "$busybox" --list >/dev/null 2>&1; then
	echo "build.sh: no busybox at $busybox (apt-get install busybox-static, or set BUSYBOX)" >&2
	exit 1
fi

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/rootfs/bin" "$ctx/rootfs/tmp" "$ctx/app/bin"
chmod 1777 "$ctx/rootfs/tmp"

cd "$root"
CGO_ENABLED=0 go build -trimpath -o "$ctx/rootfs/bin/procman" ./cmd/procman
CGO_ENABLED=0 go build -trimpath -o "$ctx/app/bin/web" ./examples/hello/web
CGO_ENABLED=0 go build -trimpath -o "$ctx/app/bin/worker" ./examples/hello/worker

cp "$busybox" "$ctx/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
	[ -e "$ctx/rootfs/bin/$applet" ] || ln -s busybox "$ctx/rootfs/bin/$applet"
done

cp "$here/Procfile" "$ctx/app/Procfile"
cp "$root/examples/hello/.env" "$ctx/app/.env"
cp "$here/Containerfile" "$ctx/Containerfile"

# shellcheck disable=SC2086 # PODMAN_BUILD_FLAGS is a list of words
podman build ${PODMAN_BUILD_FLAGS:-} -t "$tag" -f "$ctx/Containerfile" "$ctx"
