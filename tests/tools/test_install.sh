#!/usr/bin/env bash
# test_install.sh - libvio installed, and used the way a user uses it, as TAP.
#
#   test_install.sh BUILD_DIR SOURCE_DIR CC SANITIZE PREFIX LIBDIR INCLUDEDIR DATADIR LIBEXECDIR MANDIR
#
# `meson install --destdir` the build into a scratch directory, then checks
# what landed there:
#   - the shared library: its SONAME (libvio.so.0), the symlinks, and its
#     dynamic symbols (nm -D): every defined one a public vio_ name, none a
#     vio__ one, the calls vio_hello.c makes among them;
#   - the static library and the public headers under include/vio/;
#   - vio.pc: tests/tools/vio_hello.c built with `pkg-config --cflags
#     --libs vio` and run (LD_LIBRARY_PATH into the scratch tree, ldd
#     showing that libvio.so.0 came from there), and built again with
#     `pkg-config --static` from a copy of the tree without the shared
#     library (a user who installed only libvio.a), its binary needing no
#     libvio.so;
#   - each daemon's discovery file (share/qemu/vhost-user/*.json) parsed,
#     and the binary it names present and executable in the tree;
#   - each program's man page.
# SANITIZE is meson's b_sanitize ("none" or e.g. "address,undefined"): an
# instrumented library needs the program linked with the same runtime.
set -uo pipefail

build=$1 src=$2 cc=$3 sanitize=$4 prefix=$5 libdir=$6 includedir=$7 datadir=$8 libexecdir=$9
mandir=${10}
tmp=$(mktemp -d /tmp/vio-install-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0 failed=0

tap() { # tap OK NAME [DIAG]
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		echo "not ok $n - $2"
		failed=$((failed + 1))
		[ -n "${3:-}" ] && printf '%s\n' "$3" | tail -25 | sed 's/^/# /'
	fi
}

# Paths inside the scratch tree; meson's dirs may be relative to the prefix.
abs() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
dest=$tmp/dest
lib=$dest$(abs "$libdir")
inc=$dest$(abs "$includedir")
share=$dest$(abs "$datadir")
libexec=$dest$(abs "$libexecdir")
man=$dest$(abs "$mandir")

san_flags=()
[ "$sanitize" != none ] && san_flags=(-fsanitize="$sanitize")

echo "TAP version 13"
out=$(meson install -C "$build" --no-rebuild --quiet --destdir "$dest" 2>&1)
tap $? "meson install --destdir" "$out"

# The shared library.
soname=$(readelf -d "$lib/libvio.so" 2>&1 | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
tap "$([ "$soname" = libvio.so.0 ] && [ -e "$lib/libvio.so.0" ] && echo 0 || echo 1)" \
	"libvio.so has SONAME libvio.so.0, and libvio.so.0 is installed" \
	"soname '$soname'; $(ls -l "$lib" 2>&1)"

syms=$(nm -D --defined-only "$lib/libvio.so" 2>&1 | awk 'NF == 3 && $2 != "A" { sub(/@.*/, "", $3); print $3 }')
internal=$(printf '%s\n' "$syms" | grep '^vio__')
other=$(printf '%s\n' "$syms" | grep -v '^vio_[a-z0-9]')
tap "$([ -z "$internal" ] && [ -z "$other" ] && [ "$(printf '%s\n' "$syms" | wc -l)" -gt 100 ] &&
	echo 0 || echo 1)" \
	"libvio.so exports only vio_ names ($(printf '%s\n' "$syms" | wc -l) of them), no vio__ name" \
	"vio__ names exported: $internal
other names exported: $other"
missing=""
for s in vio_rng_dev_init vio_loopback_init vio_bus_init vio_rng_drv_read vio_strerror \
	vio_mem_translate_slow vio_vu_backend_init vio_blk_dev_init; do
	grep -qx "$s" <<<"$syms" || missing="$missing $s"
done
tap "$([ -z "$missing" ] && echo 0 || echo 1)" "libvio.so exports the public calls" \
	"missing:$missing"

# The static library and the headers.
hdr_missing=""
for h in "$src"/include/vio/*.h "$src"/include/vio/*/*.h; do
	rel=${h#"$src"/include/}
	[ -f "$inc/$rel" ] || hdr_missing="$hdr_missing $rel"
done
tap "$([ -f "$lib/libvio.a" ] && [ -z "$hdr_missing" ] && echo 0 || echo 1)" \
	"libvio.a and every public header under include/vio/ are installed" \
	"libvio.a: $(ls "$lib/libvio.a" 2>&1); headers missing:$hdr_missing"

# vio.pc, shared: a program built with pkg-config runs on the tree's library.
export PKG_CONFIG_SYSROOT_DIR=$dest
export PKG_CONFIG_PATH=$lib/pkgconfig
flags=$(pkg-config --cflags --libs vio 2>&1)
out=$($cc "${san_flags[@]}" -std=c11 -Wall -Wextra -Werror -o "$tmp/hello" \
	"$src/tests/tools/vio_hello.c" $flags 2>&1)
tap $? "vio_hello.c builds with \`pkg-config --cflags --libs vio\` ($flags)" "$out"
out=$(LD_LIBRARY_PATH=$lib "$tmp/hello" 2>&1)
rc=$?
from=$(LD_LIBRARY_PATH=$lib ldd "$tmp/hello" 2>&1 | awk '$1 == "libvio.so.0" { print $3 }')
tap "$([ $rc = 0 ] && [ "$from" = "$lib/libvio.so.0" ] && echo 0 || echo 1)" \
	"vio_hello runs against the installed libvio.so.0 (a round trip through the rng driver and device)" \
	"status $rc, libvio.so.0 from '$from'
$out"

# vio.pc, static: the same program from a tree holding only libvio.a.
cp -a "$dest" "$tmp/static"
rm -f "$tmp/static$(abs "$libdir")"/libvio.so*
export PKG_CONFIG_SYSROOT_DIR=$tmp/static
export PKG_CONFIG_PATH=$tmp/static$(abs "$libdir")/pkgconfig
flags=$(pkg-config --static --cflags --libs vio 2>&1)
out=$($cc "${san_flags[@]}" -std=c11 -Wall -Wextra -Werror -o "$tmp/hello-static" \
	"$src/tests/tools/vio_hello.c" $flags 2>&1)
tap $? "vio_hello.c builds with \`pkg-config --static --cflags --libs vio\` ($flags)" "$out"
out=$("$tmp/hello-static" 2>&1)
rc=$?
needed=$(readelf -d "$tmp/hello-static" 2>&1 | grep -c 'NEEDED.*libvio')
tap "$([ $rc = 0 ] && [ "$needed" = 0 ] && echo 0 || echo 1)" \
	"vio_hello built static runs, and needs no libvio.so" "status $rc, NEEDED libvio: $needed
$out"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH

# Discovery files: parsed, and each names a binary that is in the tree.
for t in blk rng net; do
	f=$share/qemu/vhost-user/50-libvio-$t.json
	out=$(python3 - "$f" "$dest" "$t" <<'EOF' 2>&1
import json, os, sys
path, dest, t = sys.argv[1:]
d = json.load(open(path))
want = {"blk": "block", "rng": "rng", "net": "net"}[t]
assert d.get("type") == want, "type %r, expected %r" % (d.get("type"), want)
assert isinstance(d.get("description"), str) and d["description"], "no description"
b = d.get("binary", "")
assert os.path.isabs(b), "binary %r is not an absolute path" % b
assert os.path.basename(b) == "vhost-user-" + t, "binary %r is not vhost-user-%s" % (b, t)
assert os.access(dest + b, os.X_OK), "%s is not in the install tree (%s)" % (b, dest + b)
print("binary", b)
EOF
)
	tap $? "discovery file 50-libvio-$t.json parses, its type is right and its binary is installed" \
		"$f: $out"
done

# Man pages.
pages=""
for p in vhost-user-blk vhost-user-rng vhost-user-net vio-perf vio-bench; do
	[ -f "$man/man1/$p.1" ] || pages="$pages $p.1"
done
tap "$([ -z "$pages" ] && echo 0 || echo 1)" "every program's man page is installed in man1" \
	"missing:$pages; $(ls -R "$man" 2>&1 | head -20)"

echo "1..$n"
[ $failed = 0 ]
