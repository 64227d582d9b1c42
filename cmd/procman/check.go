package main

import (
	"fmt"
	"strings"

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
			conf, err := loadConfig(c)
			if err != nil {
				return err
			}
			a, err := readApp(c)
			if err != nil {
				return err
			}
			pf := a.pf
			if _, _, err := readPolicy(c, conf, pf); err != nil {
				return err
			}
			if _, err := a.instances(); err != nil {
				return err
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
