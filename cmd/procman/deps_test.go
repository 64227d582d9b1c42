package main

import (
	"os/exec"
	"strings"
	"testing"
)

// procman's binary stays small and static: its resident memory tracks the
// binary's size (the kernel maps the pages around every fault), package
// net alone cost about half a MiB and made a plain `go build` link libc
// through cgo, and crypto came in only for a file name's hash. Readiness
// and the control socket use golang.org/x/sys/unix instead.
func TestNoNetworkingOrCryptoPackages(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "net" || pkg == "runtime/cgo" || strings.HasPrefix(pkg, "crypto/") || pkg == "crypto" {
			t.Errorf("procman links %s", pkg)
		}
	}
}
