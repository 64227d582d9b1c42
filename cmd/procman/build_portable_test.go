//go:build !linux || procman_portable

package main

// portableBuild says which implementation the tests run: here the portable
// one, which every system but Linux builds.
const portableBuild = true
