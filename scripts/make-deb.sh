#!/bin/sh
# scripts/make-deb.sh BUILD_DIR [OUT_DIR] — builds hookd_VERSION-1_ARCH.deb from an already
# built tree (make deb builds it first): `cmake --install` staged under a temporary root with
# prefix /usr (the program, libhookd.a and libhookd.so.0, hookd.h, hookd.pc, the man pages), plus the systemd
# units of dist/systemd, the default settings of dist/etc (conffiles) and the docs. The
# runtime dependencies come from dpkg-shlibdeps, i.e. from the libraries the binary links.
# Needs dpkg-dev (dpkg-deb, dpkg-shlibdeps), from build-essential. Prints the .deb's path.
set -eu
build=$(cd "${1:?usage: make-deb.sh BUILD_DIR [OUT_DIR]}" && pwd)
out=$(cd "${2:-$build}" && pwd)
src=$(cd "$(dirname "$0")/.." && pwd)

if grep -Eq '^HOOKD_(SANITIZE|TSAN):BOOL=ON' "$build/CMakeCache.txt"; then
  echo "make-deb.sh: $build is a sanitizer build; package a plain one (make deb)" >&2
  exit 1
fi
version=$("$build/hookd" --version | sed 's/^hookd //')
arch=$(dpkg --print-architecture)
pkgver="$version-1"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"

DESTDIR="$root" cmake --install "$build" --prefix /usr >/dev/null
# Debian's layout: compressed man pages, units under /lib/systemd/system, docs, settings
gzip -9n "$root"/usr/share/man/man1/*.1
install -D -m 644 "$src/dist/systemd/hookd.service" "$root/lib/systemd/system/hookd.service"
install -D -m 644 "$src/dist/systemd/hookd-receive.service" \
  "$root/lib/systemd/system/hookd-receive.service"
install -D -m 644 "$src/dist/etc/serve.conf" "$root/etc/hookd/serve.conf"
install -D -m 644 "$src/dist/etc/receive.conf" "$root/etc/hookd/receive.conf"
doc="$root/usr/share/doc/hookd"
install -D -m 644 "$src/README.md" "$doc/README.md"
install -D -m 644 "$src/docs/openapi.yaml" "$doc/openapi.yaml"
install -D -m 644 "$build/openapi.json" "$doc/openapi.json"
cat > "$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: hookd
Files: *
Copyright: the hookd authors
License: MIT
COPYRIGHT
strip --strip-unneeded -o "$work/hookd" "$root/usr/bin/hookd"
install -m 755 "$work/hookd" "$root/usr/bin/hookd"
so=$(cd "$root/usr/lib" && ls libhookd.so.*.*)
strip --strip-unneeded -o "$work/$so" "$root/usr/lib/$so"
install -m 644 "$work/$so" "$root/usr/lib/$so"

# dpkg-shlibdeps reads debian/control of the current directory: a minimal one will do
mkdir -p "$work/src/debian"
printf 'Source: hookd\n\nPackage: hookd\nArchitecture: any\n' > "$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/bin/hookd" "$root/usr/lib/$so" 2>/dev/null |
  sed -n 's/^shlibs:Depends=//p')

# Recommends libnss-systemd: the units' dynamic users (DynamicUser=yes) then have names
# ("hookd" in ps and ls -l, and for libpq's default user and PostgreSQL's peer
# authentication); without it they are bare numbers (systemd-boot-check.sh found this on a
# minimal Debian 12).
mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<CONTROL
Package: hookd
Version: $pkgver
Architecture: $arch
Maintainer: hookd maintainers <hookd@localhost>
Installed-Size: $size
Depends: $depends
Recommends: libnss-systemd
Suggests: pkg-config, libssl-dev, libjansson-dev
Section: net
Priority: optional
Homepage: https://github.com/hookd/hookd
Description: webhook sender and receiver
 hookd serve keeps webhook destinations, takes events from an application and
 delivers each to every subscribed destination, signed (HMAC-SHA256), retried
 and recorded. hookd receive verifies incoming webhooks, stores each durably
 once and hands it to a command or a URL. Ships systemd units (hookd.service,
 hookd-receive.service), man pages, and libhookd (shared, libhookd.so.0, and
 static) with its header and pkg-config file for verifying signatures in your
 own C programs.
CONTROL
printf '/etc/hookd/serve.conf\n/etc/hookd/receive.conf\n' > "$root/DEBIAN/conffiles"
# the dynamic linker's cache learns of libhookd.so.0 (Debian's ldconfig trigger)
printf 'activate-noawait ldconfig\n' > "$root/DEBIAN/triggers"

# hookd.service starts at install (it works as shipped: SQLite in /var/lib/hookd);
# hookd-receive.service needs a secret and a handler first, so it is only installed. An
# upgrade restarts the units that run (onto the new program) and leaves a unit the
# operator stopped or disabled as it is.
cat > "$root/DEBIAN/postinst" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = configure ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  if [ -z "${2:-}" ]; then
    systemctl enable hookd.service || true
    systemctl restart hookd.service || echo "hookd: see journalctl -u hookd" >&2
  else
    systemctl try-restart hookd.service hookd-receive.service ||
      echo "hookd: see journalctl -u hookd -u hookd-receive" >&2
  fi
fi
exit 0
SCRIPT
cat > "$root/DEBIAN/prerm" <<'SCRIPT'
#!/bin/sh
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
  systemctl stop hookd.service hookd-receive.service || true
  systemctl disable hookd.service hookd-receive.service || true
fi
exit 0
SCRIPT
cat > "$root/DEBIAN/postrm" <<'SCRIPT'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
if [ "$1" = purge ]; then
  # DynamicUser keeps the state under /var/lib/private, with a symlink in /var/lib
  rm -rf /var/lib/hookd /var/lib/private/hookd /var/lib/hookd-receive \
    /var/lib/private/hookd-receive
fi
exit 0
SCRIPT
chmod 755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"

deb="$out/hookd_${pkgver}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
