//go:build !linux || procman_portable

package integration

// subreaper says whether procman, when it is not PID 1, makes itself a
// child subreaper (see subreaper_linux_test.go). The portable build does
// not: orphans go to init, and a process that left its group with setsid
// is out of procman's reach.
const subreaper = false
