# tap.sh - what the guest test scripts (run.sh, pci_drv.sh) share; sourced.
#
# guest_work PREFIX: a scratch directory in $work, removed at exit (kept
# with VIO_GUEST_KEEP=1), and $pids, the background processes killed at
# exit. tap ok|not NAME [DETAIL]: one TAP result, echoed to stderr as it
# comes. finish: the plan and every result on stdout; exit 1 if any failed.

guest_work() {
	work=$(mktemp -d "/tmp/$1.XXXXXX")
	pids=()
	trap guest_cleanup EXIT
}

guest_cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -n "${VIO_GUEST_KEEP:-}" ] || rm -rf "$work"
}

n=0
results=()
tap() {   # tap ok|not NAME [DETAIL]
	n=$((n + 1))
	if [ "$1" = ok ]; then results+=("ok $n - $2${3:+ # $3}"); else results+=("not ok $n - $2${3:+ # $3}"); fi
	echo "${results[-1]}" >&2
}

finish() {
	echo "1..$n"
	printf '%s\n' "${results[@]}"
	for r in "${results[@]}"; do case $r in "not ok"*) exit 1 ;; esac; done
	exit 0
}
