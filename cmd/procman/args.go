package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// positionalStops names the commands whose first positional argument ends
// flag parsing: everything after it belongs to the command being run
// (`procman run ls -la` passes -la to ls).
var positionalStops = []string{"run"}

// normalizeArgs rewrites a command line so that urfave/cli, which only
// parses a command's flags before its first positional argument and global
// flags before the command name, accepts what users type:
//
//	procman -f Procfile.dev start web -t 3   →   procman start -f Procfile.dev -t 3 -- web
//
// Global flags given before the command name move to just after it (every
// command also defines them, so each command parses them in one place, and
// their order among repeated -e flags is kept). For every command but those
// in positionalStops, flags after positional arguments move before them.
// Anything it does not understand is left where it is for urfave/cli to
// report.
func normalizeArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	globals, i, ok := splitFlags(app.Flags, args[1:])
	if !ok || i+1 >= len(args) {
		return args
	}
	i++ // index in args of the command name
	cmd := findCommand(app, args[i])
	if cmd == nil {
		return args
	}
	rest := args[i+1:]
	out := []string{args[0], args[i]}
	for _, g := range globals {
		// A command may give a global flag's short name to one of its
		// own (logs -f is --follow): there it goes by its long name.
		out = append(out, longForm(app.Flags, cmd.Flags, g))
	}
	if slices.Contains(positionalStops, cmd.Name) {
		return append(out, rest...)
	}
	flags, positional, dangling := intersperse(cmd.Flags, rest)
	out = append(out, flags...)
	// A last flag that lacks its value would take "--" for it; without the
	// positional arguments urfave/cli reports the missing value instead.
	if len(positional) > 0 && !dangling {
		out = append(out, "--")
		out = append(out, positional...)
	}
	return out
}

func findCommand(app *cli.App, name string) *cli.Command {
	for _, c := range app.Commands {
		if c.HasName(name) {
			return c
		}
	}
	return nil
}

// splitFlags reads flags from the front of args up to the first argument
// that is not a flag, returning the flags with their values and the index
// of that argument. An unknown flag stops it with ok false, so that
// urfave/cli reports it in its usual place.
func splitFlags(defs []cli.Flag, args []string) (flags []string, next int, ok bool) {
	for next < len(args) {
		a := args[next]
		if a == "--" || !isFlag(a) {
			return flags, next, true
		}
		takes, defined := takesValue(defs, a)
		if !defined {
			return nil, 0, false
		}
		flags = append(flags, a)
		next++
		if takes && !strings.Contains(a, "=") && next < len(args) {
			flags = append(flags, args[next])
			next++
		}
	}
	return flags, next, true
}

// intersperse separates a command's flags (with their values) from its
// positional arguments wherever they appear; after "--" everything is
// positional. Unknown flags are kept as flags, without a value. dangling
// reports a last flag that needs a value and has none.
func intersperse(defs []cli.Flag, args []string) (flags, positional []string, dangling bool) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...), false
		case !isFlag(a):
			positional = append(positional, a)
		default:
			flags = append(flags, a)
			takes, _ := takesValue(defs, a)
			if takes && !strings.Contains(a, "=") {
				if i+1 == len(args) {
					return flags, positional, true
				}
				i++
				flags = append(flags, args[i])
			}
		}
	}
	return flags, positional, false
}

func isFlag(a string) bool {
	return len(a) > 1 && a[0] == '-'
}

// takesValue reports whether the flag written as arg ("-f", "--procfile",
// "--procfile=x") takes a value, and whether defs defines it at all. The
// help and version flags that urfave/cli adds are known booleans.
func takesValue(defs []cli.Flag, arg string) (takes, defined bool) {
	name := strings.TrimLeft(arg, "-")
	name, _, _ = strings.Cut(name, "=")
	for _, f := range append(slices.Clip(defs), cli.HelpFlag, cli.VersionFlag) {
		if f == nil || !slices.Contains(f.Names(), name) {
			continue
		}
		if v, ok := f.(cli.DocGenerationFlag); ok {
			return v.TakesValue(), true
		}
		return false, true
	}
	return false, false
}

// longForm returns the global flag written as arg ("-f", "-f=x") under
// its long name ("--procfile", "--procfile=x") when the command's flags
// give its short name to another flag; anything else as it is.
func longForm(globals, own []cli.Flag, arg string) string {
	if !isFlag(arg) || strings.HasPrefix(arg, "--") {
		return arg
	}
	name, value, hasValue := strings.Cut(arg[1:], "=")
	long := func(defs []cli.Flag) string {
		for _, f := range defs {
			if names := f.Names(); slices.Contains(names, name) {
				return names[0]
			}
		}
		return ""
	}
	global, mine := long(globals), long(own)
	if global == "" || global == mine {
		return arg
	}
	if hasValue {
		return "--" + global + "=" + value
	}
	return "--" + global
}
