#!/usr/bin/env bash
# Packaging test: build a prebuild with prebuildify, pack the package, install the tarball into an
# empty project with install scripts disabled (so nothing can compile), and load the addon from
# the prebuild alone (PREBUILDS_ONLY=1 makes node-gyp-build ignore any build/ directory).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

npm run prebuildify
test -f prebuilds/linux-x64/epoxy.node || { echo "prebuildify wrote no prebuilds/linux-x64/epoxy.node" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
listing=$(tar -tzf "$work/$tarball")
grep -qx 'package/prebuilds/linux-x64/epoxy.node' <<<"$listing" \
  || { echo "the tarball does not carry the prebuild" >&2; exit 1; }

mkdir "$work/app"
cd "$work/app"
npm init -y >/dev/null
npm install --ignore-scripts --no-audit --no-fund "$work/$tarball"
test ! -d node_modules/epoxy/build || { echo "build/ present although scripts were disabled" >&2; exit 1; }

PREBUILDS_ONLY=1 node --input-type=module -e "
  const { native, capabilities, SocketAddress } = await import('epoxy');
  const poller = new native.Poller(8);
  const fd = native.socket(native.constants.AF_INET, native.constants.SOCK_STREAM);
  native.bind(fd, SocketAddress.parse('127.0.0.1:0').bytes);
  native.listen(fd, 1);
  if (!native.getsockopt(fd, 'SO_ACCEPTCONN')) throw new Error('not listening');
  if (poller.add(fd, native.constants.EPOLLIN) !== 0) throw new Error('epoll add failed');
  poller.close();
  native.close(fd);
  console.log('prebuild loaded: epoxy ' + capabilities().version + ', ' + native.sockopts.length + ' socket options');
"
# the installed CLI runs too
PREBUILDS_ONLY=1 ./node_modules/.bin/epoxy -v
