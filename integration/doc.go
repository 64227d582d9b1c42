// Package integration holds procman's end-to-end tests of the things a
// supervisor and a container's PID 1 must get right: the procman binary
// (built once, static, with the tests' build tags) runs as an ordinary
// process, and on Linux also under a real PID 1 (unshare --pid), as a
// child subreaper, as `procman run`, and as the entrypoint of a real podman
// container. It has no code of its own; everything is in its _test.go
// files, the Linux-only tests in _linux_test.go files.
package integration
