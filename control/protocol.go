// Package control owns procman's control socket: the protocol spoken on it
// (one line of JSON each way per connection, versioned), the server that
// `procman start` runs on a private unix socket and that hands requests to
// the supervisor's owner without ever blocking it, the client used by
// `procman ps`, `stop`, `restart`, `scale` and `quit`, and where the socket
// lives. It never reads flags or the environment and never writes to the
// terminal: cmd/procman passes paths in and prints what comes back.
package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Version is the protocol version this package speaks. Every request and
// every response carries it as "v"; a request with another version gets an
// error response, so that a future procman can change the protocol without
// an old one misreading it.
const Version = 1

// MaxRequest is the longest request the server reads, in bytes, the ending
// newline included. A longer one gets an error response.
const MaxRequest = 64 << 10

// MaxCount is the highest count a scale request may ask for, so that a
// typo cannot fork thousands of processes.
const MaxCount = 1000

// maxTargets bounds the names in one stop or restart request.
const maxTargets = 1000

// The operations of the protocol.
const (
	OpPs      = "ps"      // list every instance
	OpStop    = "stop"    // stop instances gracefully; they stay stopped
	OpRestart = "restart" // stop instances gracefully, then start them again
	OpScale   = "scale"   // set the number of instances of process types
	OpQuit    = "quit"    // stop procman as SIGTERM would
)

// A Request is one line a client sends:
//
//	{"v":1,"op":"ps"}
//	{"v":1,"op":"restart","targets":["web.1","worker"]}
//	{"v":1,"op":"scale","counts":{"web":3,"worker":0}}
//	{"v":1,"op":"quit"}
//
// Targets name a process type ("web": every instance) or one instance
// ("web.2"). ParseRequest is the strict decoder the server uses.
type Request struct {
	V       int            `json:"v"`
	Op      string         `json:"op"`
	Targets []string       `json:"targets,omitempty"`
	Counts  map[string]int `json:"counts,omitempty"`
}

// A Response is the one line the server sends back:
//
//	{"v":1,"ok":true,"instances":[{"label":"web.1",...}]}
//	{"v":1,"ok":false,"error":"no process \"wbe\" (have web.1, worker.1)"}
//
// Instances lists every instance for ps, and the instances acted on for
// stop, restart and scale.
type Response struct {
	V         int        `json:"v"`
	OK        bool       `json:"ok"`
	Error     string     `json:"error,omitempty"`
	Instances []Instance `json:"instances,omitempty"`
}

// An Instance is one running (or stopped) copy of a process type, as ps
// shows it.
type Instance struct {
	Label    string    `json:"label"`            // "web.1"
	Name     string    `json:"name"`             // "web"
	State    string    `json:"state"`            // pending, running, stopping, exited, stopped, restarting
	Pid      int       `json:"pid,omitempty"`    // of its latest start; its process group too
	Started  time.Time `json:"started,omitzero"` // when it last started
	Restarts int       `json:"restarts"`         // restarts so far, requested or by policy
	Port     int       `json:"port,omitempty"`   // its PORT, 0 when none
	Ready    bool      `json:"ready"`            // its port accepts connections (or it has none and runs)
	Exit     string    `json:"exit,omitempty"`   // how it last ended: "exited with code 1"
}

// An Ask is a request the server has decoded and validated, waiting for
// its answer: whoever serves the socket sends exactly one Answer on Reply,
// which has room for it.
type Ask struct {
	Request
	Reply chan<- Answer
}

// An Answer replies to an Ask: the instances that ps lists or that stop,
// restart and scale acted on, or the reason the request failed (one line,
// sent to the client as the response's error).
type Answer struct {
	Instances []Instance
	Err       error
}

// ParseRequest decodes one request line (a trailing newline is allowed)
// strictly and validates it: exactly the fields above, spelled exactly so,
// nothing after the object, version 1, a known operation, and only the
// fields that operation takes, with well-formed names and counts. Its
// errors are one line and make a good error response.
func ParseRequest(line []byte) (Request, error) {
	var req Request
	line = bytes.TrimSpace(line)
	if len(line) == 0 {
		return req, errors.New("empty request")
	}
	// A map first, because encoding/json matches field names without
	// regard to case and keeps unknown ones quiet: "OP" or "target" must be
	// an error, not a request that silently means something else.
	var fields map[string]json.RawMessage
	if err := decodeOne(line, &fields); err != nil {
		return req, err
	}
	if fields == nil {
		return req, errors.New("request must be a JSON object")
	}
	// A map keeps the last of two equal keys: {"op":"ps","op":"quit"}
	// would quit while a front end that read the first op saw ps.
	if key, ok := duplicateKey(line); ok {
		return req, fmt.Errorf("field %s appears twice", quote(key))
	}
	for key, raw := range fields {
		var err error
		switch key {
		case "v":
			err = decodeOne(raw, &req.V)
		case "op":
			err = decodeOne(raw, &req.Op)
		case "targets":
			err = decodeOne(raw, &req.Targets)
		case "counts":
			err = decodeOne(raw, &req.Counts)
		default:
			return req, fmt.Errorf("unknown field %s", quote(key))
		}
		if err != nil {
			return req, fmt.Errorf("field %q: %w", key, err)
		}
	}
	if _, ok := fields["v"]; !ok {
		return req, errors.New(`no protocol version: send "v":1`)
	}
	return req, req.Validate()
}

// duplicateKey finds a key that appears twice in the object data (valid
// JSON, as decodeOne has checked), at its top level or in its "counts".
func duplicateKey(data []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	return objectDuplicate(dec, true)
}

// objectDuplicate reads one object from dec and reports its first
// repeated key; with counts set, it also looks inside the value of a
// "counts" key.
func objectDuplicate(dec *json.Decoder, counts bool) (string, bool) {
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return "", false
	}
	seen := make(map[string]bool)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return "", false
		}
		key, _ := t.(string)
		if seen[key] {
			return key, true
		}
		seen[key] = true
		if counts && key == "counts" {
			var raw json.RawMessage
			if dec.Decode(&raw) != nil {
				return "", false
			}
			if k, dup := objectDuplicate(json.NewDecoder(bytes.NewReader(raw)), false); dup {
				return "counts." + k, true
			}
			continue
		}
		var skip json.RawMessage
		if dec.Decode(&skip) != nil {
			return "", false
		}
	}
	return "", false
}

// decodeOne decodes exactly one JSON value, as json.Unmarshal does, but
// with messages that do not depend on Go type names.
func decodeOne(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return fmt.Errorf("malformed JSON at byte %d", syn.Offset)
		case errors.As(err, &typ):
			got := typ.Value
			if len(got) > 40 {
				got = got[:40] + "..."
			}
			return fmt.Errorf("expected %s, got %s", expected(v), got)
		}
		return errors.New("malformed JSON")
	}
	return nil
}

func expected(v any) string {
	switch v.(type) {
	case *int:
		return "a whole number"
	case *string:
		return "a string"
	case *[]string:
		return "an array of strings"
	case *map[string]int:
		return `an object of counts like {"web":2}`
	}
	return "an object"
}

// Validate checks a request as the server does before acting on it.
func (r Request) Validate() error {
	if r.V != Version {
		return fmt.Errorf("unsupported protocol version %d (this procman speaks version %d)", r.V, Version)
	}
	switch r.Op {
	case OpPs, OpQuit:
		if r.Targets != nil || r.Counts != nil {
			return fmt.Errorf("%s takes no targets or counts", r.Op)
		}
	case OpStop, OpRestart:
		if r.Counts != nil {
			return fmt.Errorf("%s takes targets, not counts", r.Op)
		}
		if len(r.Targets) == 0 {
			return fmt.Errorf("%s: name a process type or instance (web, web.1)", r.Op)
		}
		if len(r.Targets) > maxTargets {
			return fmt.Errorf("%s: more than %d targets", r.Op, maxTargets)
		}
		for _, t := range r.Targets {
			if err := checkTarget(t); err != nil {
				return fmt.Errorf("%s: %w", r.Op, err)
			}
		}
	case OpScale:
		if r.Targets != nil {
			return errors.New("scale takes counts, not targets")
		}
		if len(r.Counts) == 0 {
			return errors.New(`scale: give counts like {"web":3}`)
		}
		if len(r.Counts) > maxTargets {
			return fmt.Errorf("scale: more than %d process types", maxTargets)
		}
		for name, n := range r.Counts {
			if !validName(name) {
				return fmt.Errorf("scale: process name %s must match [A-Za-z0-9_-]+", quote(name))
			}
			if n < 0 || n > MaxCount {
				return fmt.Errorf("scale: %s=%d: count must be from 0 to %d", name, n, MaxCount)
			}
		}
	case "":
		return errors.New(`no operation: send "op"`)
	default:
		return fmt.Errorf("unknown operation %s (ps, stop, restart, scale, quit)", quote(r.Op))
	}
	return nil
}

// checkTarget accepts "web" and "web.2": a Procfile name, then perhaps an
// instance number from 1.
func checkTarget(t string) error {
	name, num, hasNum := strings.Cut(t, ".")
	switch {
	case !validName(name):
		return fmt.Errorf("target %s: want a process type or instance (web, web.1)", quote(t))
	case hasNum && !validNum(num):
		return fmt.Errorf("target %s: instance number must be a whole number from 1", quote(t))
	}
	return nil
}

// nameMax bounds a name: no Procfile has a longer one, and it keeps error
// messages short.
const nameMax = 200

func validName(s string) bool {
	if s == "" || len(s) > nameMax {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func validNum(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 1 && strconv.Itoa(n) == s
}

// quote quotes an untrusted string for an error message, cut short so that
// a huge name cannot make a huge reply.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}
