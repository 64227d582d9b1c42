#!/bin/sh
# bench/ringmem.sh: procman's memory while one child floods its output and
# the clients that read it stop reading: a `procman logs -f` and a
# `procman attach` whose output goes into a pipe nobody reads. procman keeps
# the last 1 MiB of its stream (the ring) and holds at most 1 MiB (FeedMax)
# for each slow client, then skips; so the flood must not make it grow
# beyond that, however long it lasts.
#
# Each round runs the same flood (bench/producer, 100-byte lines as fast as
# it can for $DUR, procman's own stdout to /dev/null) twice, interleaved:
#   (a) no client                       (the baseline, in the same run)
#   (b) a stalled follower and a stalled attached client
# and reads procman's peak RSS (VmHWM in /proc/PID/status) once the flood
# has ended. It prints the median of $ROUNDS rounds of each, the MB the
# flood wrote, and (b) less (a).
#
# Usage: bench/ringmem.sh      (DUR=5s ROUNDS=3 by default; Linux: /proc)
set -eu

DUR=${DUR:-5s}
ROUNDS=${ROUNDS:-3}

cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/procman-ringmem.XXXXXX")
pids=""
trap 'for p in $pids; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT INT TERM

go build -o "$work/procman" ./cmd/procman
go build -o "$work/producer" ./bench/producer
mkdir "$work/app"
cat >"$work/app/Procfile" <<EOF
flood: exec $work/producer -id 1 -for $DUR -report $work/report
idle: exec sleep 100000
EOF

# wait_for FILE: until FILE exists (at most a minute).
wait_for() {
	i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1))
		if [ "$i" -gt 1200 ]; then
			echo "bench/ringmem.sh: $1 did not appear" >&2
			exit 1
		fi
		sleep 0.05
	done
}

# measure MODE: one run; prints "peak-RSS-KiB MB-flooded".
measure() {
	rm -f "$work/report" "$work/app/.procman.sock"
	(cd "$work/app" && exec "$work/procman" start --no-timestamp --can-die flood -t 1 >/dev/null 2>&1) &
	pm=$!
	pids="$pm"
	wait_for "$work/app/.procman.sock"
	if [ "$1" = clients ]; then
		# The readers that never read: sleep holds each pipe's read end.
		(cd "$work/app" && "$work/procman" logs -f -n 0 | sleep 100000) 2>/dev/null &
		pids="$pids $!"
		(cd "$work/app" && "$work/procman" attach flood </dev/null | sleep 100000) 2>/dev/null &
		pids="$pids $!"
	fi
	wait_for "$work/report"
	hwm=$(awk '/^VmHWM/ {print $2}' "/proc/$pm/status")
	(cd "$work/app" && "$work/procman" quit)
	wait "$pm" || true
	# The clients end with procman; their sleeps are killed here.
	pkill -f "sleep 100000" 2>/dev/null || true
	wait 2>/dev/null || true
	read -r _ bytes _ <"$work/report"
	echo "$hwm $((bytes / 1000000))"
}

median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

: >"$work/none"
: >"$work/clients"
r=1
while [ "$r" -le "$ROUNDS" ]; do
	measure none >>"$work/none"
	measure clients >>"$work/clients"
	r=$((r + 1))
done

none=$(cut -d' ' -f1 "$work/none" | median)
clients=$(cut -d' ' -f1 "$work/clients" | median)
mb=$(cut -d' ' -f2 "$work/clients" | median)
printf 'flood of %s MB in %s, procman peak RSS (median of %d):\n' "$mb" "$DUR" "$ROUNDS"
printf '  no client:                         %6.1f MiB\n' "$(echo "$none / 1024" | bc -l)"
printf '  a stalled logs -f and attach:      %6.1f MiB\n' "$(echo "$clients / 1024" | bc -l)"
printf '  difference:                        %6.1f MiB (bound: the 1 MiB ring is in both; 1 MiB per slow client)\n' \
	"$(echo "($clients - $none) / 1024" | bc -l)"
