# procman's guardian (see guardian.go), run as
#   /bin/sh -c THIS procman-guardian PROCMAN_PID TICKS
# with procman's messages on fd 3: "+ PGID..." (groups procman started),
# "- PGID..." (groups seen empty), "bye" (a clean stop: exit now). End of
# file without "bye" means procman is gone: SIGTERM to every group it
# started, up to TICKS tenths of a second for them to empty, then SIGKILL
# to what is left. Written for any POSIX sh (dash, bash, FreeBSD's sh,
# busybox): `kill -SIG -PGID` is the form they all take.
trap '' INT QUIT HUP TSTP TTIN TTOU PIPE
guard() {
	groups=' '
	while read -r op ids; do
		case $op in
		+) groups="$groups$ids " ;;
		-)
			for g in $ids; do
				case $groups in
				*" $g "*) groups="${groups%% "$g" *} ${groups#* "$g" }" ;;
				esac
			done
			;;
		bye) exit 0 ;;
		esac
	done <&3
	exec 3<&-
	live=
	for g in $groups; do
		kill -TERM "-$g" 2>/dev/null && live="$live $g"
	done
	n=0
	while [ -n "$live" ] && [ "$n" -lt "$1" ]; do
		sleep 0.1
		n=$((n + 1))
		left=
		for g in $live; do
			kill -0 "-$g" 2>/dev/null && left="$left $g"
		done
		live=$left
	done
	for g in $live; do
		kill -KILL "-$g" 2>/dev/null
	done
	exit 0
}
# In the background, so that the guardian is not procman's child (procman
# waits for the foreground sh): it outlives procman without being one of
# the processes procman must see gone before it exits.
guard "$2" 3<&3 &
