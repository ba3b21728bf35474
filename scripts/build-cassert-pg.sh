#!/usr/bin/env bash
# Builds PostgreSQL 15 with assertions (--enable-cassert --enable-debug) from Debian's own source
# package into .deps/postgresql-15-cassert, for the hardened test run (scripts/test-hardened.sh).
# Cached: when its .stamp names the same options, it does nothing (and needs no network).
# Prints the prefix's pg_config path on its last line.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
deps="$root/.deps"
# Debian's 50-per-version-dirs patch sets pkglibdir to /usr/lib/postgresql/15/lib unless libdir
# contains "postgres" (upstream's rule for a private prefix): the prefix's name must contain it, or
# `make install` writes modules into the system server's directory. The install is staged with
# DESTDIR and checked to stay inside the prefix before it is moved there.
prefix="$deps/postgresql-15-cassert"
apt_dir="$deps/apt-src"
# Lean: the server, client programs and pg_regress; no LLVM JIT, docs, NLS, readline, zlib or ICU
# (the suite needs none of them, and a fresh machine then needs no -dev package for them).
# Frame pointers let ASan's fast unwinder walk through PostgreSQL's frames in its reports.
configure_opts=(--enable-cassert --enable-debug --without-llvm --without-readline --without-zlib
  --without-icu --disable-nls --with-system-tzdata=/usr/share/zoneinfo)
cflags="-O2 -g -fno-omit-frame-pointer"
# Contrib modules the suite uses (stopgap_lifecycle drops an unrelated extension: citext).
contrib=(citext)

# deb-src lines in a private apt configuration: the machine's own sources and lists stay untouched.
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
cat >"$apt_dir/sources.list" <<'EOF'
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm-updates main
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security bookworm-security main
EOF
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache" -o APT::Sandbox::User=root)

want="$(printf '%s\n' "${configure_opts[@]}" "$cflags" "${contrib[@]/#/contrib/}" | sha256sum | cut -c1-16)"
stamp="$prefix/.stamp"
# With a build in place, no network: reuse it whatever the archive now offers.
if [ -f "$stamp" ] && [ "$(cut -d' ' -f2 "$stamp")" = "$want" ] && [ -x "$prefix/bin/pg_config" ]; then
  echo "cassert PostgreSQL: cached $(cut -d' ' -f1 "$stamp") in $prefix" >&2
  echo "$prefix/bin/pg_config"
  exit 0
fi

echo "cassert PostgreSQL: fetching Debian's postgresql-15 source package" >&2
apt-get "${apt_opts[@]}" update -qq >&2
src_tmp="$(mktemp -d "$deps/pg15-src.XXXXXX")"
trap 'rm -rf "$src_tmp"' EXIT
# The index may list a version the mirror no longer serves (a security update's files move):
# take the newest one that downloads.
version=""
for v in $(apt-cache "${apt_opts[@]}" showsrc postgresql-15 | sed -n 's/^Version: //p' | sort -rV -u); do
  if (cd "$src_tmp" && apt-get "${apt_opts[@]}" source --download-only -qq "postgresql-15=$v" >/dev/null 2>&1); then
    version="$v"; break
  fi
  rm -f "$src_tmp"/*
done
[ -n "$version" ] || { echo "cassert PostgreSQL: no postgresql-15 source package could be fetched" >&2; exit 1; }
echo "cassert PostgreSQL: building $version (--enable-cassert --enable-debug) into $prefix" >&2
(cd "$src_tmp" && dpkg-source -x --no-check ./*.dsc src >/dev/null)

start=$SECONDS
cd "$src_tmp/src"
./configure --prefix="$prefix" "${configure_opts[@]}" CFLAGS="$cflags" >"$src_tmp/configure.log" 2>&1 \
  || { tail -30 "$src_tmp/configure.log" >&2; exit 1; }
make -s -j"$(nproc)" >"$src_tmp/make.log" 2>&1 || { tail -40 "$src_tmp/make.log" >&2; exit 1; }
stage="$src_tmp/stage"
make -s install DESTDIR="$stage" >"$src_tmp/install.log" 2>&1 || { tail -40 "$src_tmp/install.log" >&2; exit 1; }
for m in "${contrib[@]}"; do
  make -s -C "contrib/$m" install DESTDIR="$stage" >>"$src_tmp/install.log" 2>&1 || { tail -40 "$src_tmp/install.log" >&2; exit 1; }
done
outside="$(cd "$stage" && find . ! -type d | grep -v "^\.$prefix/" | head -5 || true)"
[ -z "$outside" ] || { echo "cassert PostgreSQL: install would write outside $prefix:" >&2; echo "$outside" >&2; exit 1; }
rm -rf "$prefix"
mv "$stage$prefix" "$prefix"
regress="$(dirname "$("$prefix/bin/pg_config" --pgxs)")/../test/regress/pg_regress"
[ -x "$regress" ] || { echo "cassert PostgreSQL: pg_regress was not installed" >&2; exit 1; }
echo "$version $want" >"$stamp"
echo "cassert PostgreSQL: built $version in $((SECONDS - start)) s" >&2
echo "$prefix/bin/pg_config"
