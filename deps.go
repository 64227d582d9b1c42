//go:build tools

package procman

import (
	_ "github.com/creack/pty"
	_ "github.com/fatih/color"
	_ "github.com/joho/godotenv"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/urfave/cli/v2"
	_ "golang.org/x/sys/unix"
)
