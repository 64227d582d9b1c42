package main

import (
	"fmt"
	"os"
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
			proj, err := readProject(c)
			if err != nil {
				return err
			}
			pf, err := proj.parseProcfile()
			if err != nil {
				return err
			}
			real := os.Environ()
			_, vars, err := proj.loadEnv(real)
			if err != nil {
				return err
			}
			base, from, err := basePort(c, environMap(real), vars)
			if err != nil {
				return err
			}
			form, err := readFormation(c, pf)
			if err != nil {
				return err
			}
			if _, _, err := readPolicy(c, conf, pf); err != nil {
				return err
			}
			if _, err := instances(pf, form, base, from); err != nil {
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
