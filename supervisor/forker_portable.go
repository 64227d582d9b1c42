//go:build !linux || procman_portable

package supervisor

// newForker returns the portable forker.
func newForker() forker { return plainForker{} }
