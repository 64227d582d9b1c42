//go:build (!linux || procman_portable) && !darwin && !freebsd

package supervisor

// sizeSocketBuffers leaves a child's output socket as the system makes it:
// Linux buffers about 200 KiB, more than a pipe.
func sizeSocketBuffers(procman, child int) {}
