package main

import (
	"os"
	"strconv"

	"github.com/procman/procman/control"
	"github.com/procman/procman/logmux"
	"github.com/urfave/cli/v2"
)

// defaultLines is how many lines logs shows without -n.
const defaultLines = 100

func logsCommand() *cli.Command {
	return &cli.Command{
		Name:      "logs",
		Usage:     "show the recent output of the procman running here, and follow it with -f",
		ArgsUsage: "[NAME|NAME.N ...]",
		Description: "Prints the last lines of procman's output stream as start prints them,\n" +
			"from the memory procman keeps of it (the last " + sizeText(logmux.DefaultRingSize) + " of output). NAME shows\n" +
			"only the lines of that process type (and procman's lines about it),\n" +
			"NAME.N only that instance's. With -f it then prints each new line until\n" +
			"Ctrl-C or until procman exits.",
		// -f is --follow here, as in tail(1): --procfile has no short name.
		Flags: append(withoutShort(globalFlags(), "f"), socketFlag(),
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "then print the lines that follow, until Ctrl-C or procman exits"},
			&cli.IntFlag{Name: "lines", Aliases: []string{"n"}, Value: defaultLines, Usage: "print the last `N` lines"},
			&cli.StringFlag{Name: "log-format", Usage: "`FORMAT`: text or json", DefaultText: "as procman start writes its stream"},
			&cli.BoolFlag{Name: "color", Aliases: []string{"c"}, Usage: "colour the labels even when stdout is not a terminal", DefaultText: "only on a terminal"},
			&cli.BoolFlag{Name: "no-color", Usage: "never colour the labels"},
		),
		Action: logsAction,
	}
}

func logsAction(c *cli.Context) error {
	n := c.Int("lines")
	if n < 0 || n > control.MaxLines {
		return usageErrorf("logs: -n %d: must be from 0 to %d", n, control.MaxLines)
	}
	format := c.String("log-format")
	if format != "" && format != "text" && format != "json" {
		return usageErrorf("logs: --log-format %q: must be text or json", format)
	}
	if c.Bool("color") && c.Bool("no-color") {
		return usageErrorf("logs: --color and --no-color contradict each other")
	}
	flag := choiceAuto
	switch {
	case c.Bool("color"):
		flag = choiceOn
	case c.Bool("no-color"):
		flag = choiceOff
	}
	sock, err := findSocket(c)
	if err != nil {
		return err
	}
	req := control.Request{V: control.Version, Op: control.OpLogs, Targets: c.Args().Slice(),
		Lines: n, Follow: c.Bool("follow"), Format: format,
		Color: useColor(flag, isTerminal(c.App.Writer), os.Getenv)}
	if err := control.Logs(sock.path, req, c.App.Writer); err != nil {
		return sock.error(err)
	}
	return nil
}

// withoutShort returns flags with the one-letter alias short taken off.
func withoutShort(flags []cli.Flag, short string) []cli.Flag {
	for i, f := range flags {
		if sf, ok := f.(*cli.StringFlag); ok {
			var keep []string
			for _, a := range sf.Aliases {
				if a != short {
					keep = append(keep, a)
				}
			}
			copied := *sf
			copied.Aliases = keep
			flags[i] = &copied
		}
	}
	return flags
}

// sizeText writes a size in bytes as people read it: 1 MiB, 512 KiB.
func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " bytes"
}
