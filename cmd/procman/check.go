package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/procman/procman/settings"
	"github.com/urfave/cli/v2"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "validate the Procfile, the env files and -m/-p without starting anything",
		Flags: append(withGlobals(formationFlag(), portFlag()), policyFlags()...),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageErrorf("check: unexpected argument %q", c.Args().First())
			}
			s, err := settings.Load(readFlags(c))
			if err != nil {
				return settled(err)
			}
			printNotices(c.App.ErrWriter, s)
			pf, warnings, err := s.Check(os.Environ())
			if err != nil {
				return settled(err)
			}
			for _, warning := range warnings {
				fmt.Fprintf(c.App.ErrWriter, "procman: %s\n", warning)
			}
			w := c.App.Writer
			fmt.Fprintf(w, "valid procfile detected (%s)\n", strings.Join(pf.Names(), ", "))
			for _, line := range pf.Continued {
				name := ""
				for _, e := range pf.Entries {
					if e.Line == line {
						name = e.Name
					}
				}
				fmt.Fprintf(w, "note: %s:%d: %s continues over several lines with backslashes; procman and the shell accept that, Heroku does not\n",
					pf.Path, line, name)
			}
			return nil
		},
	}
}

// printNotices writes what settings has to tell the user to w (stderr),
// one "procman: " line each, for the commands that have no output stream.
func printNotices(w io.Writer, s *settings.Settings) {
	for _, n := range s.Notices() {
		fmt.Fprintf(w, "procman: %s\n", n.Msg)
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print procman's version",
		Action: func(c *cli.Context) error {
			cli.VersionPrinter(c)
			return nil
		},
	}
}
