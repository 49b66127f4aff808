#!/usr/bin/env bash
# extract-vmlinux.sh BZIMAGE OUT - the uncompressed kernel (an ELF vmlinux)
# inside a bzImage, for vio-vmm's direct entry at the kernel's own
# startup_64 (no decompressor run in the guest).
#
# The boot protocol (2.08+) says where the compressed payload is:
# payload_offset (0x248) and payload_length (0x24c), counted from the start
# of the protected-mode part, which begins after (setup_sects + 1) * 512
# bytes (setup_sects at 0x1f1; 0 means 4). The payload's format is told by
# its magic bytes; xz, gzip and zstd are handled here.
set -euo pipefail
in=${1:?usage: extract-vmlinux.sh BZIMAGE OUT}
out=${2:?usage: extract-vmlinux.sh BZIMAGE OUT}

u8() { od -An -tu1 -j "$1" -N1 "$in" | tr -d ' '; }
u32() { od -An -tu4 -j "$1" -N4 "$in" | tr -d ' '; }

[ "$(dd if="$in" bs=1 skip=$((0x202)) count=4 status=none)" = HdrS ] ||
	{ echo "extract-vmlinux: $in is not a bzImage" >&2; exit 1; }
sects=$(u8 $((0x1f1)))
[ "$sects" -ne 0 ] || sects=4
start=$(( (sects + 1) * 512 + $(u32 $((0x248))) ))
len=$(u32 $((0x24c)))
magic=$(od -An -tx1 -j "$start" -N4 "$in" | tr -d ' ')
case $magic in
fd377a58) dec=(xz -dc) ;;
1f8b*) dec=(gzip -dc) ;;
28b52ffd) dec=(zstd -qdc) ;;
*) echo "extract-vmlinux: unknown payload magic $magic" >&2; exit 1 ;;
esac
# The payload's last 4 bytes are the decompressed size, after the
# compressed stream: tools stop at the end of the stream.
tail -c +$((start + 1)) "$in" | head -c "$len" | "${dec[@]}" > "$out" 2>/dev/null || true
[ "$(od -An -tx1 -N4 "$out" | tr -d ' ')" = 7f454c46 ] ||
	{ echo "extract-vmlinux: no ELF came out of $in" >&2; exit 1; }
