//go:build !linux

package main

import "fmt"

// growStdin fails: only Linux can resize a pipe.
func growStdin(size int) error {
	return fmt.Errorf("-pipe %d: resizing a pipe needs Linux (F_SETPIPE_SZ)", size)
}
