package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/procman/procman/export"
	"github.com/procman/procman/settings"
	"github.com/urfave/cli/v2"
)

// exportCommand is `procman export FORMAT DIR`: the app's processes as
// files for another process manager, written by package export.
func exportCommand() *cli.Command {
	formats := strings.Join(export.Formats(), ", ")
	return &cli.Command{
		Name:      "export",
		Usage:     "write the processes as units for systemd, supervisord, runit, launchd or Kubernetes",
		ArgsUsage: "FORMAT DIR",
		Description: "FORMAT is one of " + formats + ". DIR is created if needed.\n" +
			"The same inputs give byte-identical files. Exporting again into DIR\n" +
			"replaces the files the last export of the same app wrote there (listed in\n" +
			"DIR/.procman-export-APP) and touches no other file. Files that carry\n" +
			"config from the env files are written with mode 0600.",
		Flags: withGlobals(
			&cli.StringFlag{
				Name:        "app",
				Aliases:     []string{"a"},
				Usage:       "`NAME` of the app: the prefix of every unit and file",
				DefaultText: "the root directory's name",
			},
			&cli.StringFlag{
				Name:        "user",
				Aliases:     []string{"u"},
				Usage:       "run the processes as `USER`",
				DefaultText: "the manager's default",
			},
			&cli.StringFlag{
				Name:        "log",
				Aliases:     []string{"l"},
				Usage:       "write the processes' output to files in `DIR`",
				DefaultText: "the manager's own logging",
			},
			&cli.StringFlag{
				Name:    "run",
				Aliases: []string{"r"},
				Usage:   "run directory `DIR`, for user templates (foreman's -r; the built-in templates do not use it)",
			},
			formationFlag(),
			portFlag(),
			timeoutFlag("`SECONDS` from SIGTERM to SIGKILL when stopping (rounded up to whole seconds)"),
			&cli.StringFlag{
				Name:  "template",
				Usage: "take templates from `DIR` where it has a file named like a built-in template",
			},
			&cli.StringFlag{
				Name:  "image",
				Usage: "container `IMAGE` that holds the app (kubernetes; required there)",
			},
		),
		Action: exportAction,
	}
}

func exportAction(c *cli.Context) error {
	args := c.Args().Slice()
	formats := strings.Join(export.Formats(), ", ")
	switch {
	case len(args) == 0:
		return usageErrorf("export: missing FORMAT and DIR (usage: procman export FORMAT DIR; formats: %s)", formats)
	case !slices.Contains(export.Formats(), args[0]):
		return usageErrorf("export: unknown format %q (known: %s)", args[0], formats)
	case len(args) == 1:
		return usageErrorf("export: missing DIR (usage: procman export %s DIR)", args[0])
	case len(args) > 2:
		return usageErrorf("export: unexpected argument %q (usage: procman export FORMAT DIR)", args[2])
	case args[1] == "":
		return usageErrorf("export: empty DIR")
	}
	format, dir := args[0], args[1]
	if format == "kubernetes" && c.String("image") == "" {
		return usageErrorf("export: kubernetes needs --image IMAGE: the container image that holds the app")
	}
	x, err := settings.ReadExport(readFlags(c), os.Environ())
	if err != nil {
		return settled(err)
	}
	name, ins := x.Name, x.Instances
	if name == "" {
		name = export.DefaultName(x.Root)
	}
	app := export.App{
		Name:      name,
		Root:      x.Root,
		User:      c.String("user"),
		LogDir:    c.String("log"),
		RunDir:    c.String("run"),
		Grace:     x.Grace,
		Instances: ins,
		Config:    x.Config,
		Image:     c.String("image"),
		Procfile:  x.Procfile,
	}
	if err := export.Write(format, dir, app, x.TemplateDir); err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			// The input was fine; the file system refused.
			return &failure{err: fmt.Errorf("export: %w", err)}
		}
		return usageErrorf("export: %s", err)
	}

	labels := make([]string, len(ins))
	for i, in := range ins {
		labels[i] = in.Label()
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	w := c.App.Writer
	fmt.Fprintf(w, "exported %s (%s) for %s to %s\n", name, strings.Join(labels, ", "), format, abs)
	fmt.Fprintf(w, "next: %s\n", export.NextStep(format, abs, app))
	return nil
}
