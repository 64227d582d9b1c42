#!/bin/sh
# bench/throughput.sh: how fast procman's output stream relays children's
# lines, against one `cat` relaying the same producers, in the same run.
#
# For 1 and 4 producers (bench/producer: numbered 100-byte lines, as fast as
# they can, for $DUR), each round measures:
#   (a) procman start (text)              | checker
#   (b) procman start --log-format json   | checker
#   (a') and (b'): the same with procman built -tags procman_portable (the
#       portable implementation, which every system but Linux runs)
#   (a'') (a') into a 1 MiB pipe: the checker resizes the pipe procman writes
#       to (Linux only), to the size the Linux build gives its own; the
#       difference from (a') is what the shell's 64 KiB pipe costs
#   (c) producers | cat                   | checker   (the relay floor)
#   (d) producers > /dev/null                         (the producers' own speed)
# The checker verifies every line (label, order, no gap, no damage) and times
# the stream from its first byte to EOF; MB/s counts the producers' bytes
# (10^6 per MB). Rounds interleave the modes so a busy machine slows them
# alike; the table shows the median of $ROUNDS rounds, each procman row's
# ratio to (c), and lost and corrupt lines summed over all rounds.
#
# Producers write LINES lines per write(2): 40 by default (4000 bytes, like
# a block-buffered program, and within PIPE_BUF so that producers sharing
# cat's pipe never mix inside a line); LINES=1 is a program that writes
# every line as it makes it.
#
# MODES picks the relays to measure, by the names in measure below; a
# target is judged only when its relay and (c) were measured, e.g.
# MODES="ptext cat" ROUNDS=7 bench/throughput.sh for the portable target.
#
# Usage: bench/throughput.sh     (DUR=2s ROUNDS=3 LINES=40 by default)
# Exit status 1 if any line was lost or corrupt, or a target was missed.
set -eu

DUR=${DUR:-2s}
ROUNDS=${ROUNDS:-3}
LINES=${LINES:-40}
MODES=${MODES:-text json ptext pjson ptextbig cat null}
if [ "$(uname -s)" != Linux ]; then
	MODES=$(echo "$MODES" | sed 's/ptextbig//')
fi

cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/procman-throughput.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

go build -o "$work/procman" ./cmd/procman
go build -tags procman_portable -o "$work/procman-portable" ./cmd/procman
go build -o "$work/producer" ./bench/producer

for n in 1 4; do
	mkdir -p "$work/app$n"
	i=1
	while [ "$i" -le "$n" ]; do
		echo "p$i: exec $work/producer -id $i -lines $LINES -for $DUR -report $work/r/$i"
		i=$((i + 1))
	done >"$work/app$n/Procfile"
done

# producers N: run N producers in parallel, their output on stdout.
producers() {
	i=1
	while [ "$i" -le "$1" ]; do
		"$work/producer" -id "$i" -lines "$LINES" -for "$DUR" -report "$work/r/$i" &
		i=$((i + 1))
	done
	wait
}

# measure MODE N: one run; appends "MODE N MB/s lines lost corrupt" to results.
measure() {
	rm -rf "$work/r"
	mkdir "$work/r"
	case $1 in
	text) out=$("$work/procman" start -f "$work/app$2/Procfile" | "$work/producer" -check text -reports "$work/r") ;;
	json) out=$("$work/procman" start -f "$work/app$2/Procfile" --log-format json | "$work/producer" -check json -reports "$work/r") ;;
	ptext) out=$("$work/procman-portable" start -f "$work/app$2/Procfile" | "$work/producer" -check text -reports "$work/r") ;;
	ptextbig) out=$("$work/procman-portable" start -f "$work/app$2/Procfile" | "$work/producer" -check text -pipe 1048576 -reports "$work/r") ;;
	pjson) out=$("$work/procman-portable" start -f "$work/app$2/Procfile" --log-format json | "$work/producer" -check json -reports "$work/r") ;;
	cat) out=$(producers "$2" | cat | "$work/producer" -check raw -reports "$work/r") ;;
	null)
		producers "$2" >/dev/null
		# bytes summed, over the longest producer's time
		out=$(cat "$work"/r/* | awk '{ b += $2; if ($3 > s) s = $3 } END { printf "%d %.3f %.1f - 0 0\n", b, s, b / s / 1e6 }')
		;;
	esac
	set -- "$1" "$2" $out
	echo "$1 $2 $5 $6 $7 $8" >>"$work/results"
}

: >"$work/results"
round=1
while [ "$round" -le "$ROUNDS" ]; do
	for n in 1 4; do
		for mode in $MODES; do
			measure "$mode" "$n"
		done
	done
	round=$((round + 1))
done

echo "procman output throughput: producers of 100-byte lines, $LINES per write, for $DUR; median of $ROUNDS rounds; $(nproc) CPUs"
echo
sort -k1,1 -k2,2n -k3,3g "$work/results" | awk -v rounds="$ROUNDS" '
	{ key = $1 " " $2; v[key, ++c[key]] = $3; lost[key] += $5; bad[key] += $6; lines[key] += ($4 == "-" ? 0 : $4) }
	# ratio X: the median of X over that of one cat, or -1 when one is missing.
	function ratio(m) { return (m in med && "cat" in med) ? med[m] / med["cat"] : -1 }
	# judge: the line for one target, and whether it counts as missed.
	function judge(what, m, want,  r) {
		r = ratio(m)
		if (r < 0) return sprintf("%s not measured", what)
		if (r < want) missed = 1
		return sprintf("%s = %.2f, want >= %s: %s", what, r, want, (r >= want ? "met" : "MISSED"))
	}
	END {
		name["text"] = "(a) procman text"; name["json"] = "(b) procman json"
		name["ptext"] = "(a\047) portable text"; name["pjson"] = "(b\047) portable json"
		name["ptextbig"] = "(a\047\047) portable, 1 MiB"
		name["cat"] = "(c) one cat"; name["null"] = "(d) /dev/null"
		printf "%-10s %-22s %10s %8s %12s %6s %8s\n", "producers", "relay", "MB/s", "vs cat", "lines", "lost", "corrupt"
		damaged = 0; missed = 0
		for (n = 1; n <= 4; n += 3) {
			split("", med)
			for (k in c) { split(k, p, " "); if (p[2] != n) continue; med[p[1]] = v[k, int((c[k] + 1) / 2)] }
			split("text json ptext pjson ptextbig cat null", order, " ")
			for (i = 1; i <= 7; i++) {
				m = order[i]; key = m " " n
				if (!(m in med)) continue
				r = (m == "cat" || m == "null") ? "" : (ratio(m) < 0 ? "-" : sprintf("%.2f", ratio(m)))
				nl = (m == "null") ? "-" : lines[key]
				printf "%-10d %-22s %10.1f %8s %12s %6d %8d\n", n, name[m], med[m], r, nl, lost[key], bad[key]
				if (lost[key] + bad[key] > 0) damaged = 1
			}
			if (n == 4) {
				printf "\ntargets (4 producers): %s; %s\n", judge("(a)/(c)", "text", 0.9), judge("(b)/(c)", "json", 0.6)
				printf "portable target (4 producers): %s\n", judge("(a\047)/(c)", "ptext", 0.8)
				if (ratio("ptextbig") >= 0)
					printf "portable into a 1 MiB pipe (4 producers, not a target): (a\047\047)/(c) = %.2f\n", ratio("ptextbig")
			}
		}
		printf "lost or corrupt lines: %s\n", (damaged ? "SOME (see the table)" : "none")
		exit damaged || missed
	}'
