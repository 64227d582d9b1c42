package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// growStdin makes the pipe on stdin hold size bytes (F_SETPIPE_SZ), as
// procman's Linux build does with the pipe it writes to; -check then reads
// a relay that does not have to wait for room in a 64 KiB pipe.
func growStdin(size int) error {
	got, err := unix.FcntlInt(os.Stdin.Fd(), unix.F_SETPIPE_SZ, size)
	if err != nil {
		return fmt.Errorf("-pipe %d: %w", size, err)
	}
	if got < size {
		return fmt.Errorf("-pipe %d: the pipe holds %d bytes", size, got)
	}
	return nil
}
