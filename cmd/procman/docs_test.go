package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The documents are README.md and docs/*.md, relative to this package.
const repoRoot = "../.."

// otherTools are the long flags the documents name that belong to another
// program, with that program.
var otherTools = map[string]string{
	"--cgroup-manager": "podman",
	"--for":            "kubectl wait",
	"--fork":           "unshare",
	"--init":           "docker run",
	"--mount-proc":     "unshare",
	"--now":            "systemctl enable",
	"--pid":            "unshare",
	"--rm":             "podman run",
	"--runtime":        "podman",
	"--ulimit":         "podman run",
	"--watch":          "tailwindcss",
}

// argsAreCommand are the procman commands after which the words belong to
// another program (procman run ls --color): their flags are not procman's.
var argsAreCommand = map[string]bool{"run": true}

var (
	linkRE    = regexp.MustCompile(`\]\(([^()\s]+)\)`)
	spanRE    = regexp.MustCompile("`[^`]*`")
	flagRE    = regexp.MustCompile(`(?:^|[^\w-])(--[a-z][a-z0-9]*(?:-[a-z0-9]+)*)`)
	commandRE = regexp.MustCompile(`(?:^|[\s/$(])procman\s+([a-z]+)\b([^|;&#]*)`)
)

// A doc is one Markdown document, split into what the checks look at.
type doc struct {
	path     string   // relative to the repository root
	lines    []string // every line
	prose    []string // lines outside code blocks
	commands []string // command lines: code spans, sh blocks, console lines after "$ "
	anchors  []string // the anchors of its headings, as GitHub makes them
}

// readDocs reads README.md and every docs/*.md.
func readDocs(t *testing.T) []doc {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(repoRoot, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	paths = append([]string{filepath.Join(repoRoot, "README.md")}, paths...)
	var docs []doc
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(repoRoot, p)
		docs = append(docs, parseDoc(rel, string(data)))
	}
	return docs
}

func parseDoc(path, text string) doc {
	d := doc{path: path}
	seen := map[string]int{}
	block, inBlock := "", false
	for _, line := range strings.Split(text, "\n") {
		d.lines = append(d.lines, line)
		if fence, ok := strings.CutPrefix(strings.TrimSpace(line), "```"); ok {
			block, inBlock = strings.TrimSpace(fence), !inBlock
			continue
		}
		if inBlock {
			switch {
			case block == "sh":
				d.commands = append(d.commands, line)
			case block == "console" && strings.HasPrefix(line, "$ "):
				d.commands = append(d.commands, line[2:])
			}
			continue
		}
		d.prose = append(d.prose, line)
		for _, span := range spanRE.FindAllString(line, -1) {
			// A span that starts "procman: " is one of its messages.
			if span = strings.Trim(span, "`"); !strings.HasPrefix(span, "procman: ") {
				d.commands = append(d.commands, span)
			}
		}
		if title, ok := heading(line); ok {
			a := anchor(title)
			if n := seen[a]; n > 0 {
				seen[a]++
				a += "-" + strconv.Itoa(n)
			} else {
				seen[a] = 1
			}
			d.anchors = append(d.anchors, a)
		}
	}
	return d
}

// heading returns the text of an ATX heading line ("## Text").
func heading(line string) (string, bool) {
	hashes := len(line) - len(strings.TrimLeft(line, "#"))
	if hashes == 0 || hashes > 6 || !strings.HasPrefix(line[hashes:], " ") {
		return "", false
	}
	return strings.TrimSpace(line[hashes:]), true
}

// anchor is GitHub's anchor for a heading: lower case, spaces as '-', and
// every character but letters, digits, '-' and '_' dropped.
func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestDocsLinks checks that every relative link in the documents leads to
// a file or directory of the repository, and every #anchor to a heading
// of the page it names.
func TestDocsLinks(t *testing.T) {
	docs := readDocs(t)
	anchors := map[string][]string{}
	for _, d := range docs {
		anchors[d.path] = d.anchors
	}
	for _, d := range docs {
		for _, line := range d.prose {
			for _, m := range linkRE.FindAllStringSubmatch(spanRE.ReplaceAllString(line, ""), -1) {
				link := m[1]
				if strings.Contains(link, "://") || strings.HasPrefix(link, "mailto:") {
					continue
				}
				target, frag, _ := strings.Cut(link, "#")
				if target == "" {
					target = d.path
				} else {
					target = filepath.Join(filepath.Dir(d.path), target)
				}
				if _, err := os.Stat(filepath.Join(repoRoot, target)); err != nil {
					t.Errorf("%s: link %s: %s does not exist", d.path, link, target)
					continue
				}
				if frag == "" {
					continue
				}
				have, ok := anchors[target]
				if !ok {
					t.Errorf("%s: link %s: %s is not one of the documents, so its anchors are unknown", d.path, link, target)
				} else if !slices.Contains(have, frag) {
					t.Errorf("%s: link %s: %s has no heading #%s (have %s)", d.path, link, target, frag, strings.Join(have, ", "))
				}
			}
		}
	}
}

// TestDocsCommandsAndFlags checks that every `procman COMMAND` the
// documents show is a command of `procman help`, that the long flags after
// it are in `procman COMMAND --help`, and that every other long flag they
// name is one of procman's or, per otherTools, another program's.
func TestDocsCommandsAndFlags(t *testing.T) {
	top := helpText(t, "help")
	flags := map[string][]string{} // command: its long flags
	all := flagRE.FindAllStringSubmatch(top, -1)
	for _, name := range helpCommands(top) {
		out := helpText(t, name, "--help")
		for _, m := range flagRE.FindAllStringSubmatch(out, -1) {
			flags[name] = append(flags[name], m[1])
		}
		all = append(all, flagRE.FindAllStringSubmatch(out, -1)...)
	}
	known := map[string]bool{}
	for _, m := range all {
		known[m[1]] = true
	}

	for _, d := range readDocs(t) {
		for _, text := range d.commands {
			for _, m := range commandRE.FindAllStringSubmatch(text, -1) {
				name, args := m[1], m[2]
				own, ok := flags[name]
				if !ok {
					t.Errorf("%s: %q: procman has no command %q (procman help lists %s)", d.path, text, name, strings.Join(helpCommands(top), ", "))
					continue
				}
				if argsAreCommand[name] {
					continue
				}
				for _, f := range flagRE.FindAllStringSubmatch(args, -1) {
					if !slices.Contains(own, f[1]) {
						t.Errorf("%s: %q: procman %s --help has no flag %s", d.path, text, name, f[1])
					}
				}
			}
		}
		for _, text := range d.lines {
			for _, m := range flagRE.FindAllStringSubmatch(text, -1) {
				if f := m[1]; !known[f] && otherTools[f] == "" {
					t.Errorf("%s: %q: %s is no flag of procman (nor listed in otherTools)", d.path, text, f)
				}
			}
		}
	}
}

// helpText returns what procman prints for args, run in this process.
func helpText(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr strings.Builder
	if status := run(append([]string{"procman"}, args...), &stdout, &stderr); status != 0 {
		t.Fatalf("procman %s: status %d, stderr %q", strings.Join(args, " "), status, stderr.String())
	}
	return stdout.String()
}

// helpCommands returns the command names (aliases included) that the
// COMMANDS section of `procman help` lists.
func helpCommands(help string) []string {
	_, section, _ := strings.Cut(help, "COMMANDS:\n")
	section, _, _ = strings.Cut(section, "\n\n")
	var names []string
	for _, line := range strings.Split(section, "\n") {
		first, _, _ := strings.Cut(strings.TrimSpace(line), "  ")
		for _, n := range strings.Split(first, ", ") {
			if n != "" {
				names = append(names, n)
			}
		}
	}
	return names
}
