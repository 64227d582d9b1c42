//go:build unix && !linux && !darwin && !freebsd

package control

import (
	"errors"
	"fmt"
	"runtime"
)

// peerUID cannot learn a peer's user on this system, so every client is
// refused rather than let in unchecked.
func peerUID(int) (int, error) {
	return -1, fmt.Errorf("%w on %s", errors.ErrUnsupported, runtime.GOOS)
}
