#!/usr/bin/env bash
# Installs everything a fresh Debian bookworm machine lacks to build and test plts + stopgap.
# Idempotent: when everything is present it only checks, in about a second.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
deps="$root/.deps"

apt_pkgs=(build-essential cmake pkg-config git
  postgresql-15 postgresql-server-dev-15 postgresql-contrib libpq-dev
  nlohmann-json3-dev libfmt-dev libgtest-dev googletest
  libbrotli1 libc-ares2 libicu72 libnghttp2-14 libssl3 libuv1 zlib1g python3
  clang-14 libclang-rt-14-dev)  # scripts/fuzz.sh: clang with its libFuzzer and sanitizer runtimes

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# Node.js and npm: any source will do (this machine's may come from elsewhere than Debian).
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
apt_updated=0
apt_update_once() {
  if [ "$apt_updated" = 0 ]; then sudo_ apt-get update -qq; apt_updated=1; fi
}
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  apt_update_once
  sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# V8 from Debian's libnode108 + libnode-dev. apt cannot install them beside a nodejs from another
# source (node-acorn needs Debian's nodejs), so unpack the two .debs into a project prefix instead.
libnode_ver_file="$deps/libnode/.version"
if [ ! -f "$libnode_ver_file" ] || [ ! -f "$deps/libnode/usr/lib/x86_64-linux-gnu/libnode.so.108" ]; then
  echo "bootstrap: unpacking libnode108 + libnode-dev into $deps/libnode"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  if ! (cd "$tmp" && apt-get download libnode108 libnode-dev >/dev/null 2>&1); then
    apt_update_once
    (cd "$tmp" && apt-get download libnode108 libnode-dev >/dev/null 2>&1)
  fi
  rm -rf "$deps/libnode"
  mkdir -p "$deps/libnode"
  for f in "$tmp"/*.deb; do dpkg-deb -x "$f" "$deps/libnode"; done
  dpkg-deb -f "$tmp"/libnode108_*.deb Version >"$libnode_ver_file"
fi

# runtime-js: the TypeScript compiler and test tooling, pinned by the committed lockfile.
if [ -f "$root/runtime-js/package-lock.json" ]; then
  stamp="$root/runtime-js/node_modules/.bootstrap-stamp"
  if [ ! -f "$stamp" ] || [ "$root/runtime-js/package-lock.json" -nt "$stamp" ]; then
    echo "bootstrap: npm ci in runtime-js"
    (cd "$root/runtime-js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$stamp"
  fi
fi
echo "bootstrap: ok"
