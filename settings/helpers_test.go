package settings

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// inDir writes files (path: text) into a new directory and makes it the
// working directory for the rest of the test, so that messages name files
// as a user in that directory sees them.
func inDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	return dir
}

// The flags as the command line gives them.
func str(v string) String   { return String{Value: v, Set: true} }
func list(v ...string) List { return List{Values: v, Set: true} }
func switched(v bool) Bool  { return Bool{Value: v, Set: true} }
func unsetTimeout() String  { return String{Value: "5"} } // what urfave/cli gives for an unset -t
func noEnv() []string       { return []string{"HOME=/home/u"} }

// checkErr fails unless err is an *InputError reading want, or nil when
// want is "".
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, want %q", want)
	}
	var in *InputError
	if !errors.As(err, &in) {
		t.Errorf("error %v is a %T, want an *InputError", err, err)
	}
	if err.Error() != want {
		t.Fatalf("error:\nhave %s\nwant %s", err, want)
	}
}
