#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# run.sh - build the fuzz preset and run every libFuzzer target of tests/fuzz for N seconds on
# its committed corpus (tests/fuzz/corpus/<target>) and dictionary (tests/fuzz/dict/<target>.dict).
#
# A crash, a property that failed (the target aborts), a leak, a time-out (10 s per input) or
# running out of memory is saved as a file under build/fuzz-run/<target>/ and fails the run.
# New inputs go to a scratch corpus (build/fuzz-run/<target>/new), never into the committed one,
# unless --merge: then libFuzzer's -merge=1 adds to tests/fuzz/corpus/<target> only the inputs
# that reach coverage the committed corpus does not (commit them). --minimise rewrites the
# committed corpus instead: its seed-* files (make-seeds.py) plus the fewest other inputs, of the
# committed ones and this run's finds, that reach edges the seeds do not (smallest first; edges
# only, -use_counters=0: every edge, so libFuzzer's cov, is kept, not each hit-count bucket of
# its ft, which keeps the committed corpus a few hundred KB; a run re-finds the buckets soon).
#
# usage: tests/fuzz/run.sh [--seconds N] [--merge | --minimise] [--no-build] [TARGET...]
#   --seconds N  time per target (default 20); 0: run each corpus input once, no fuzzing
#                (the README test command, scripts/test.sh, runs 10 s per target)
#   --merge      add what this run found (only what is new) to the committed corpus
#   --minimise   rewrite the committed corpus as seeds + the fewest inputs that add edges
#   --no-build   use build/fuzz as it is
#   TARGET       json rpc http yahoo replay smtp_reply smtp_format notif config httpd wakeup (default: all)
# Prints one line per target (exec/s, coverage cov/ft, corpus) and "fuzz: N passed, N failed".
# One target for ten minutes, the long run of docs/fuzzing.md (nice: the machine is shared):
#   nice -n 10 tests/fuzz/run.sh --seconds 600 --minimise notif
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo" || exit 1

seconds=20
merge=0
build=1
targets=()
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) seconds=${2:?--seconds needs a number}; shift 2 ;;
	--merge) merge=1; shift ;;
	--minimise|--minimize) merge=2; shift ;;
	--no-build) build=0; shift ;;
	-h|--help) sed -n '3,25p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	-*) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) targets+=("$1"); shift ;;
	esac
done
all=(json rpc http yahoo replay smtp_reply smtp_format notif config httpd stooq cookie retry_after wakeup)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# Longest input per target: a little above the largest real input the parser takes.
declare -A max_len=([json]=4096 [rpc]=8192 [http]=8192 [yahoo]=8192 [replay]=4096
	[smtp_reply]=4096 [smtp_format]=8192 [notif]=8300 [config]=8192 [httpd]=6144 [stooq]=1024
	[cookie]=4096 [retry_after]=256 [wakeup]=16)

out=$repo/build/fuzz-run
mkdir -p "$out"
if [ "$build" = 1 ]; then
	echo "fuzz: building (cmake --preset fuzz; log in $out/build.log)"
	if ! { cmake --preset fuzz && cmake --build --preset fuzz; } >"$out/build.log" 2>&1; then
		tail -30 "$out/build.log"
		echo "fuzz: 0 passed, ${#targets[@]} failed"
		exit 1
	fi
fi

passed=0
failed=0
for t in "${targets[@]}"; do
	bin=$repo/build/fuzz/tests/fuzz/fuzz_$t
	dir=$out/$t
	if [ ! -x "$bin" ] || [ -z "${max_len[$t]:-}" ]; then
		echo "fuzz_$t: no such target (known: ${all[*]})"
		failed=$((failed + 1))
		continue
	fi
	rm -rf "$dir"
	mkdir -p "$dir/new" "$dir/artifacts"
	if [ "$seconds" = 0 ]; then
		how=(-runs=0)
	else
		how=(-max_total_time="$seconds")
	fi
	"$bin" "${how[@]}" -timeout=10 -rss_limit_mb=2048 \
		-max_len="${max_len[$t]}" -dict="$here/dict/$t.dict" -artifact_prefix="$dir/artifacts/" -print_final_stats=1 \
		"$dir/new" "$here/corpus/$t" >"$dir/log" 2>&1
	rc=$?
	stats=$(grep -aE '^#[0-9]+.*(cov|DONE)' "$dir/log" | tail -1)
	cov=$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+).*/cov \1 ft \2 corpus \3/p' <<<"$stats")
	eps=$(sed -nE 's/^stat::average_exec_per_sec: *([0-9]+)/\1/p' "$dir/log")
	execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$dir/log")
	found=$(find "$dir/artifacts" -type f | head -1)
	if [ $rc -ne 0 ] || [ -n "$found" ]; then
		failed=$((failed + 1))
		echo "fuzz_$t: FAILED (exit $rc) after ${execs:-?} runs; input saved as ${found:-none}"
		grep -aE 'fuzz property failed|ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error' \
			"$dir/log" | head -3 | sed 's/^/  /'
		echo "  reproduce: $bin $found    (log: $dir/log)"
		continue
	fi
	passed=$((passed + 1))
	line="fuzz_$t: ok, ${seconds} s, ${execs:-?} runs, ${eps:-?} exec/s, ${cov:-no stats}"
	if [ "$merge" = 1 ]; then
		before=$(find "$here/corpus/$t" -type f | wc -l)
		if "$bin" -merge=1 -max_len="${max_len[$t]}" "$here/corpus/$t" "$dir/new" \
			>"$dir/merge.log" 2>&1; then
			line+=", merged +$(( $(find "$here/corpus/$t" -type f | wc -l) - before )) inputs"
		else
			line+=", merge FAILED (see $dir/merge.log)"
		fi
	elif [ "$merge" = 2 ]; then
		corp=$here/corpus/$t
		before=$(find "$corp" -type f | wc -l)
		bytes=$(find "$corp" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
		rm -rf "$dir/fresh"
		mkdir -p "$dir/fresh"
		find "$corp" -maxdepth 1 -type f -name 'seed-*' -exec cp {} "$dir/fresh/" \;
		if "$bin" -merge=1 -use_counters=0 -max_len="${max_len[$t]}" "$dir/fresh" "$corp" "$dir/new" \
			>"$dir/merge.log" 2>&1; then
			find "$corp" -maxdepth 1 -type f ! -name 'seed-*' -delete
			find "$dir/fresh" -maxdepth 1 -type f ! -name 'seed-*' -exec cp {} "$corp/" \;
			line+=", minimised $before files ($bytes B) to $(find "$corp" -type f | wc -l)"
			line+=" ($(find "$corp" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}') B)"
		else
			line+=", minimise FAILED (see $dir/merge.log; the corpus is as it was)"
		fi
	fi
	echo "$line"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
