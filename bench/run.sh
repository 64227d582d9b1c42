#!/bin/sh
# bench/run.sh: build procman and measure it as a whole process, each
# figure next to a baseline measured in the same run.
#
#   bench/run.sh [pmbench flags]     e.g. bench/run.sh -runs 9 -v
#                                    bench/run.sh -runs 3 (a quicker check)
#
# procman is built twice: the default build, with Linux's accelerators,
# and the portable one (-tags procman_portable), which macOS and FreeBSD
# run. From bench/pmbench, for both builds side by side: startup (N = 1,
# 10, 100, 1000 children, against a shell loop and against a bare Go
# fork+exec of the same children), peak RSS and CPU at rest (1, 100, 1000
# idle children), and procman's guardian (its peak RSS, and procman's and
# its together); for the default build, shutdown (10, 100, 1000
# cooperative children; one that ignores SIGTERM under -t 2). Output
# throughput comes from bench/throughput.sh when it is present. Exits
# non-zero when a target is missed. Run it on an otherwise idle machine:
# every figure is wall time (pmbench waits for idle CPUs before each timed
# run and says when it could not). pmbench reads Linux's /proc and
# inotify: elsewhere only throughput.sh runs. Takes ten to twelve minutes
# on two CPUs (-runs 3: four to six).
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(mktemp -d "${TMPDIR:-/tmp}/procman-bench.XXXXXX")
trap 'rm -rf "$bin"' EXIT INT TERM

cd "$repo"
# The builds under test are static, as the README describes (CGO_ENABLED=0:
# no libc, no dynamic loader; a plain `go build` gives the same, as no
# package procman links uses cgo): the default one and the portable one.
# A third has its memory measured alongside: without urfave/cli's man-page
# generator (build tag urfave_cli_no_docs; procman does not use it).
status=0
if [ "$(uname -s)" = Linux ]; then
	CGO_ENABLED=0 go build -o "$bin/procman" ./cmd/procman
	CGO_ENABLED=0 go build -tags procman_portable -o "$bin/procman-portable" ./cmd/procman
	CGO_ENABLED=0 go build -tags urfave_cli_no_docs -o "$bin/procman-nodocs" ./cmd/procman
	go build -o "$bin/pmbench" ./bench/pmbench

	echo "procman $(git describe --always --dirty 2>/dev/null || echo '(no git)'), $(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
	echo "$(nproc) CPUs, $(uname -sr), /bin/sh is $(readlink -f /bin/sh)"
	echo

	"$bin/pmbench" -procman "$bin/procman" -portable "$bin/procman-portable" \
		-also "static, -tags urfave_cli_no_docs=$bin/procman-nodocs" \
		"$@" || status=$?
else
	echo "bench/pmbench measures through Linux's /proc and inotify: skipped on $(uname -s)"
fi

# The output benchmark is the logmux engineer's; it builds its own procman.
if [ -f bench/throughput.sh ]; then
	echo
	sh bench/throughput.sh || status=$?
fi
exit "$status"
