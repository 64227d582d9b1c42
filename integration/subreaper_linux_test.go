//go:build !procman_portable

package integration

// subreaper says whether procman, when it is not PID 1, makes itself a
// child subreaper: then it is handed every orphan of its tree, and reaches
// a process that left its Procfile process's group (setsid), also one whose
// parent has exited. The Linux build does (the tests are built with
// procman's tags); subreaper_portable_test.go says the portable one does
// not.
const subreaper = true
