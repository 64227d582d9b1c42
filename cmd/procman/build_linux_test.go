//go:build linux && !procman_portable

package main

// portableBuild says which implementation the tests run: here the Linux
// accelerators.
const portableBuild = false
