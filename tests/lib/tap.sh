# TAP helpers for the shell tests: ok/not ok lines, a plan at the end.
tap_n=0
tap_failed=0

tap_check() { # tap_check NAME COMMAND...
	local name=$1
	shift
	tap_n=$((tap_n + 1))
	if "$@"; then
		echo "ok $tap_n - $name"
	else
		echo "not ok $tap_n - $name"
		tap_failed=$((tap_failed + 1))
	fi
}

tap_skip() { # tap_skip NAME REASON
	tap_n=$((tap_n + 1))
	echo "ok $tap_n - $1 # SKIP $2"
}

# tap_workdir: a scratch directory in $work, removed when the script exits.
tap_workdir() {
	work=$(mktemp -d)
	trap 'rm -rf "$work"' EXIT
}

tap_done() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}
