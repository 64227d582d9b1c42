#!/bin/sh
# bench/run.sh: build procman and measure it as a whole process, each
# figure next to a baseline measured in the same run.
#
#   bench/run.sh [pmbench flags]     e.g. bench/run.sh -runs 9 -v
#
# Startup (N = 1, 10, 100, 1000 children), shutdown (10 cooperative
# children; one that ignores SIGTERM under -t 2) and peak RSS (1, 100, 1000
# idle children) come from bench/pmbench; output throughput from
# bench/throughput.sh when it is present. Exits non-zero when a target is
# missed. Run it on an otherwise idle machine: every figure is wall time
# (pmbench waits for idle CPUs before each timed run and says when it could
# not). Takes about nine minutes on two CPUs.
set -eu

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(mktemp -d "${TMPDIR:-/tmp}/procman-bench.XXXXXX")
trap 'rm -rf "$bin"' EXIT INT TERM

cd "$repo"
# The build under test is the static one the README and SPEC.md describe
# (CGO_ENABLED=0: no libc, no dynamic loader; a plain `go build` now gives
# the same, as no package procman links uses cgo). A second build has its
# memory measured alongside: without urfave/cli's man-page generator
# (build tag urfave_cli_no_docs; procman does not use it).
CGO_ENABLED=0 go build -o "$bin/procman" ./cmd/procman
CGO_ENABLED=0 go build -tags urfave_cli_no_docs -o "$bin/procman-nodocs" ./cmd/procman
go build -o "$bin/pmbench" ./bench/pmbench

echo "procman $(git describe --always --dirty 2>/dev/null || echo '(no git)'), $(go env GOVERSION) $(go env GOOS)/$(go env GOARCH)"
echo "$(nproc) CPUs, $(uname -sr), /bin/sh is $(readlink -f /bin/sh)"
echo

status=0
"$bin/pmbench" -procman "$bin/procman" \
	-also "static, -tags urfave_cli_no_docs=$bin/procman-nodocs" \
	"$@" || status=$?

# The output benchmark is the logmux engineer's; it builds its own procman.
if [ -f bench/throughput.sh ]; then
	echo
	sh bench/throughput.sh || status=$?
fi
exit "$status"
