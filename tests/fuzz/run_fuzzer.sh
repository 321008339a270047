#!/bin/bash
# Runs one libFuzzer target over its seed corpus (plus the tiny guests) for a
# bounded number of inputs. Usage: run_fuzzer.sh FUZZER CORPUS_DIR -runs=N [EXTRA_SEEDS_DIR]
set -eu
fuzzer=$1 corpus=$2 runs=$3 extra=${4:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$corpus"/. "$work"/ 2>/dev/null || true
if [ -n "$extra" ] && [ -d "$extra" ]; then
	for f in "$extra"/*.elf "$extra"/*.bin; do
		# the first byte is the initrd-size selector
		[ -f "$f" ] && { printf '\x10'; cat "$f"; } >"$work/seed-$(basename "$f")"
	done
fi
exec "$fuzzer" "$runs" -max_len=65536 -timeout=10 "$work"
