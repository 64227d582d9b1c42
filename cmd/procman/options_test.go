package main

import (
	"io"
	"reflect"
	"slices"
	"testing"

	"github.com/procman/procman/settings"
	"github.com/urfave/cli/v2"
)

// The project file's keys are the long names of start's flags, all of them
// but -D and --log-file, which say how one start runs, not how the app
// does.
func TestProjectFileKeys(t *testing.T) {
	var names []string
	for _, f := range startCommand().Flags {
		for _, n := range f.Names() {
			if len(n) > 1 && n != "daemon" && n != "log-file" {
				names = append(names, n)
			}
		}
	}
	keys := settings.Keys()
	slices.Sort(names)
	slices.Sort(keys)
	if !slices.Equal(names, keys) {
		t.Errorf("start's flags %q\nkeys          %q", names, keys)
	}
}

// readFlags reads every flag a command defines into its field, and leaves
// the others unset.
func TestReadFlags(t *testing.T) {
	tests := []struct {
		cmd *cli.Command
		set []string // the fields of settings.Flags it sets
	}{
		{startCommand(), []string{"Procfile", "Root", "Env", "Formation", "Port", "Timeout", "Timestamp", "NoTimestamp",
			"Color", "NoColor", "PTY", "LogFormat", "TimeFormat", "Quiet", "Socket", "Attach",
			"NoRelease", "CanDie", "AnyCanDie", "Restart", "RestartPolicy", "MaxRestarts", "After"}},
		{checkCommand(), []string{"Procfile", "Root", "Env", "Formation", "Port",
			"NoRelease", "CanDie", "AnyCanDie", "Restart", "RestartPolicy", "MaxRestarts", "After"}},
		{exportCommand(), []string{"Procfile", "Root", "Env", "Formation", "Port", "Timeout", "App", "Template"}},
		{runCommand(), []string{"Procfile", "Root", "Env", "Port"}},
		{psCommand(), []string{"Procfile", "Root", "Env", "Socket"}},
	}
	for _, tt := range tests {
		t.Run(tt.cmd.Name, func(t *testing.T) {
			args := []string{"procman", tt.cmd.Name}
			for _, f := range tt.cmd.Flags {
				arg := "--" + f.Names()[0]
				if v, ok := f.(cli.DocGenerationFlag); ok && v.TakesValue() {
					arg += "=x"
				}
				args = append(args, arg)
			}
			var flags settings.Flags
			tt.cmd.Action = func(c *cli.Context) error {
				flags = readFlags(c)
				return nil
			}
			app := &cli.App{Writer: io.Discard, ErrWriter: io.Discard, Commands: []*cli.Command{tt.cmd},
				ExitErrHandler: func(*cli.Context, error) {}}
			if err := app.Run(args); err != nil {
				t.Fatal(err)
			}
			v := reflect.ValueOf(flags)
			for i := range v.NumField() {
				name := v.Type().Field(i).Name
				if have, want := v.Field(i).FieldByName("Set").Bool(), slices.Contains(tt.set, name); have != want {
					t.Errorf("%s: set %v, want %v", name, have, want)
				}
			}
		})
	}
}
