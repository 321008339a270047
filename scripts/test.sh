#!/bin/bash
# Runs every test of vmon: unit tests, KVM tests with tiny guests and the
# command-line tests with gcc; a clang -Werror build; the unit tests, KVM
# tests and fuzz targets under AddressSanitizer + UndefinedBehaviorSanitizer;
# and the nested lab with a real Linux guest. Ends with "N passed, N failed".
# Usage: scripts/test.sh [--no-lab]
set -uo pipefail
cd "$(dirname "$0")/.."
lab=yes
[ "${1:-}" = "--no-lab" ] && lab=no

bash scripts/install-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

results=$(mktemp)
trap 'rm -f "$results"' EXIT
setup_failures=0

# configure DIR MESON-ARGS...: a fresh build directory, built.
configure() {
	local dir=$1
	shift
	if [ -d "$dir" ]; then
		meson setup --wipe "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" >"$dir.ninja.log" 2>&1 || { tail -30 "$dir.ninja.log"; return 1; }
}

# run_suites DIR LABEL SUITES...: meson test, then count TAP subtests.
run_suites() {
	local dir=$1 label=$2
	shift 2
	local args=()
	for s in "$@"; do args+=(--suite "$s"); done
	meson test -C "$dir" --print-errorlogs "${args[@]}" >"$dir.test.log" 2>&1
	grep -E '^ *[0-9]+/[0-9]+ ' "$dir.test.log" | sed "s/^/[$label] /"
	python3 scripts/count_results.py "$dir/meson-logs/testlog.json" "$label" >>"$results"
}

echo "== gcc build: unit, KVM and command-line tests"
if configure build-gcc -Dwerror=true; then
	run_suites build-gcc gcc unit kvm cli
else
	echo "gcc build failed"; setup_failures=$((setup_failures + 1))
fi

echo "== clang build (-Wall -Wextra -Werror)"
if CC=clang configure build-clang -Dwerror=true; then
	echo "clang build ok"; echo "pass clang-build" >>"$results"
else
	echo "fail clang-build" >>"$results"
fi

echo "== clang + ASan + UBSan: unit tests, KVM tests, fuzz targets"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
if CC=clang configure build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true; then
	run_suites build-asan asan unit kvm cli fuzz
else
	echo "sanitizer build failed"; setup_failures=$((setup_failures + 1))
fi

if [ "$lab" = yes ]; then
	echo "== the nested lab: a real Linux guest under vmon"
	if [ -x build-gcc/vmon ]; then
		bash tests/lab/run.sh build-gcc build-gcc/vmon >build-gcc.lab.log 2>&1
		grep -E '^(not )?ok ' build-gcc.lab.log | sed 's/^/[lab] /'
		python3 scripts/count_results.py --tap build-gcc.lab.log lab >>"$results"
	else
		echo "fail lab: no vmon binary to test" >>"$results"
	fi
fi

python3 scripts/count_results.py --summary "$results" "$setup_failures"
