// Package settings owns procman's rules for what a user asks for: the
// flags (as cmd/procman read them), .procman (or foreman's .foreman), the
// env files and the defaults; which wins, what is valid, and the supervisor
// configuration they make. It imports no CLI library, never reads
// os.Environ or a terminal, and never prints: callers pass plain values in.
package settings

import "fmt"

// A String is a flag that takes one value. Value means nothing unless Set.
type String struct {
	Value string
	Set   bool // given on the command line (or by the flag's environment variable)
}

// A Bool is a switch. Value means nothing unless Set.
type Bool struct {
	Value bool
	Set   bool
}

// A List is a repeatable flag whose values are split at commas, in the
// order given. Values mean nothing unless Set.
type List struct {
	Values []string
	Set    bool
}

// or returns the flag's value if it was set, else def.
func (s String) or(def string) string {
	if s.Set {
		return s.Value
	}
	return def
}

// or returns the switch's value if it was set, else def.
func (b Bool) or(def bool) bool {
	if b.Set {
		return b.Value
	}
	return def
}

// Flags are a procman command's flags, as cmd/procman parsed them. A
// command leaves unset the flags it does not define.
type Flags struct {
	// The global flags.
	Procfile String // -f
	Root     String // -d
	Env      List   // -e

	// start's flags; check takes Formation, Port and the lifecycle flags,
	// export Formation, Port and Timeout, run Port.
	Formation   String // -m, --concurrency
	Port        String // -p
	Timeout     String // -t
	Timestamp   Bool
	NoTimestamp Bool
	Color       Bool // -c
	NoColor     Bool
	PTY         String
	LogFormat   String
	TimeFormat  String
	Quiet       List // -q
	Socket      String
	Attach      String

	// The lifecycle flags of start and check.
	NoRelease     Bool
	CanDie        List
	AnyCanDie     Bool
	Restart       List
	RestartPolicy String
	MaxRestarts   String
	After         List

	// export's flags that procman checks itself.
	App      String // -a
	Template String
}

// The defaults of the flags that have one, for their help text; a flag
// that is not set takes its default here, whatever cmd/procman declares.
const (
	DefaultTimeout       = "5"          // seconds
	DefaultTimestamp     = true         // --timestamp
	DefaultPTY           = "auto"       // --pty
	DefaultLogFormat     = "text"       // --log-format
	DefaultTimeFormat    = "clock"      // --time-format
	DefaultRestartPolicy = "on-failure" // --restart-policy
	DefaultPort          = 5000         // the base port
)

// An InputError is bad input: a flag's value, the project file, the
// Procfile or an env file. Its message names the flag and value, or the
// file and line, and never holds a value from an env file. Every error
// this package returns is one, but for a working directory that cannot be
// found.
type InputError struct {
	Err error
}

// Error returns the message, without a "procman: " prefix.
func (e *InputError) Error() string { return e.Err.Error() }

// Unwrap returns the underlying error.
func (e *InputError) Unwrap() error { return e.Err }

func inputf(format string, args ...any) error {
	return &InputError{fmt.Errorf(format, args...)}
}

// A Choice is a setting that is on, off, or left to procman (Auto).
type Choice int

// The choices.
const (
	Auto Choice = iota
	On
	Off
)

// Decide returns whether the setting holds: auto decides for Auto.
func (c Choice) Decide(auto bool) bool {
	switch c {
	case On:
		return true
	case Off:
		return false
	}
	return auto
}

// Settings are a command's flags with the project file applied. Load makes
// them; each method reads, in a fixed order, what one command needs.
type Settings struct {
	flags Flags
	file  *projectFile
}

// A Notice is something Load has to tell the user without failing, as
// one line without the "procman: " prefix.
type Notice struct {
	Warning bool // a setting procman ignores, which the user should fix; else a note
	Msg     string
}

// Load reads the project file (.procman in the root that flags point at)
// if there is one, and gives every flag the command line did not set the
// file's value (a switch and its negation, --timestamp and --no-timestamp,
// count as one flag). Relative paths in its env key are taken from the
// root. An unknown key, a key that cannot be set there, a switch that is
// not true or false and a key given twice (other than a list flag's) are
// *InputErrors naming the file and line, as are a -d, -f or -e that cannot
// be right, and a file larger than 1 MiB.
//
// Without a .procman, Load reads foreman's .foreman from the current
// directory instead, as foreman does: its keys procfile, root, env,
// formation (or concurrency), port, timeout, color and timestamp set the
// flags of the same names, relative paths taken from the current
// directory; a switch may also be yes, no, on or off (YAML). Its other
// keys are ignored, each with a warning among the Notices, which then
// begin with a note that .foreman was read. A procfile or root in it that
// leads to a directory with a .procman is an error: one project, one file.
//
// The only other error is a working directory that cannot be found.
func Load(flags Flags) (*Settings, error) {
	proj, err := readProject(flags)
	if err != nil {
		return nil, err
	}
	file, err := readProjectFile(proj)
	if err != nil {
		return nil, err
	}
	if err := file.apply(&flags); err != nil {
		return nil, err
	}
	if file.foreman {
		if err := file.checkLocation(proj, flags); err != nil {
			return nil, err
		}
	}
	return &Settings{flags: flags, file: file}, nil
}

// Notices returns what Load has to tell the user, in order: that it read
// .foreman, then each of its keys that procman ignores. start shows them
// on its output stream, check on stderr.
func (s *Settings) Notices() []Notice {
	return s.file.notices
}

// Project returns what the global flags point at, the project file's env
// applied: the Procfile, the root and the env files. -f defaults to
// Procfile (DIR/Procfile with -d), -d to the Procfile's directory, -e to
// ROOT/.env, which may be missing. An empty -e item is an *InputError.
func (s *Settings) Project() (Project, error) {
	return readProject(s.flags)
}

// Socket returns the control socket's path as given by --socket (or
// PROCMAN_SOCKET, which cmd/procman reads as that flag) or the project
// file; "" means the default place, which package control decides.
func (s *Settings) Socket() string {
	return s.flags.Socket.or("")
}
