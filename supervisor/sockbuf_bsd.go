//go:build darwin || freebsd

package supervisor

import "syscall"

// childSocketBuffer is the buffer asked for a child's output socket. A Unix
// stream socket here buffers only 8 KiB by default (Linux: about 200 KiB),
// a small fraction of a pipe's 64 KiB, and a child writing fast would wait
// for procman after every few lines. Memory is taken only as data waits.
const childSocketBuffer = 256 << 10

// sizeSocketBuffers gives the child's end its send buffer, and procman's
// its receive buffer (the one that bounds a stream here depends on the
// system); a system that refuses keeps its default.
func sizeSocketBuffers(procman, child int) {
	syscall.SetsockoptInt(child, syscall.SOL_SOCKET, syscall.SO_SNDBUF, childSocketBuffer)
	syscall.SetsockoptInt(procman, syscall.SOL_SOCKET, syscall.SO_RCVBUF, childSocketBuffer)
}
