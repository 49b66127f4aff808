#!/bin/sh
# run.sh - "raw use does not compile": libvio's little-endian wire types
# (vio_le16/32/64) are structs precisely so that using a wire value as a
# plain integer is a compile error. This script proves it, case by case, and
# reports TAP so that meson counts every case.
#
# usage: run.sh CASE_DIR INCLUDE_DIR COMPILER [COMPILER_ARGS...]
#
#   ok_*.c   must compile cleanly, warnings as errors.
#   bad_*.c  must NOT compile, and the first error must be on the line
#            marked "expect-error". The same file built with -DVIO_CF_FIXED,
#            which writes that line through vio_get*/vio_set*, must compile
#            cleanly. The pair shows that the failure comes from the raw use
#            and not from a typo, a missing header or a compiler that cannot
#            run at all (which would make every "must fail" case pass).
#
# Only -fsyntax-only is asked of the compiler, so this works with any gcc
# or clang command meson hands us (ccache wrappers, sanitizer builds).
set -u

LC_ALL=C                        # the error text we look for is English
export LC_ALL

dir=$1
inc=$2
shift 2
# "$@" is now the compiler command.

base_flags="-std=c11 -pedantic-errors -Wall -Wextra"
base_flags="$base_flags -Wshadow -Wstrict-prototypes -Wmissing-prototypes"
log=$(mktemp) || exit 1
trap 'rm -f "$log"' EXIT

n=0
for f in "$dir"/ok_*.c "$dir"/bad_*.c; do
	[ -e "$f" ] || continue
	case $f in
	*/bad_*) n=$((n + 2)) ;;
	*) n=$((n + 1)) ;;
	esac
done
if [ "$n" -eq 0 ]; then
	echo "Bail out! no cases in $dir"
	exit 1
fi
echo "1..$n"

i=0
failed=0

# try_compile FILE EXTRA_FLAGS COMPILER...: compiler output goes to $log.
# EXTRA_FLAGS is split on spaces on purpose.
try_compile() {
	tc_file=$1
	tc_extra=$2
	shift 2
	# shellcheck disable=SC2086
	"$@" $base_flags $tc_extra -fsyntax-only -I"$inc" "$tc_file" >"$log" 2>&1
}

report() {
	i=$((i + 1))
	if [ "$1" = ok ]; then
		echo "ok $i - $2"
	else
		failed=$((failed + 1))
		echo "not ok $i - $2"
		[ -n "${3:-}" ] && echo "# $3"
		sed 's/^/#   /' "$log"
	fi
}

for f in "$dir"/ok_*.c; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .c)
	if try_compile "$f" "-Werror" "$@"; then
		report ok "$name compiles"
	else
		report fail "$name compiles" "the control file must compile cleanly"
	fi
done

for f in "$dir"/bad_*.c; do
	[ -e "$f" ] || continue
	name=$(basename "$f" .c)
	file=$(basename "$f")
	line=$(grep -n 'expect-error' "$f" | head -n 1 | cut -d: -f1)

	if [ -z "$line" ]; then
		: >"$log"
		report fail "$name is rejected" "no line is marked expect-error"
	elif try_compile "$f" "" "$@"; then
		report fail "$name is rejected" "compiled, but raw use must be an error"
	else
		first=$(grep -m 1 ': error:' "$log")
		case $first in
		*"$file:$line:"*)
			report ok "$name is rejected at line $line" ;;
		*)
			report fail "$name is rejected" "first error is not on line $line" ;;
		esac
	fi

	if try_compile "$f" "-DVIO_CF_FIXED -Werror" "$@"; then
		report ok "$name with the wrappers compiles"
	else
		report fail "$name with the wrappers compiles" \
			"the VIO_CF_FIXED variant must compile cleanly"
	fi
done

[ "$failed" -eq 0 ]
