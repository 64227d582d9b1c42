// Package control owns procman's control socket: the protocol spoken on it
// (one line of JSON each way per connection, versioned, then for attach and
// logs a stream), the server that `procman start` runs on a private unix
// socket and that hands requests to the supervisor's owner without ever
// blocking it, the clients used by `procman ps`, `stop`, `restart`,
// `scale`, `quit`, `attach` and `logs`, and where the socket lives. It
// never reads flags or the environment and never touches the terminal:
// cmd/procman passes paths, readers and writers in and prints what comes
// back.
//
// After the response line {"v":1,"ok":true}, a logs connection carries
// procman's stream, raw, until the server closes it. An attach connection
// carries frames both ways (a type byte, a 4-byte big-endian length of at
// most 64 KiB, the payload): 'i' input and 'w' window size from the
// client; 'o' output and, last, 'x' (the Ending as JSON) from the server,
// which then closes. A client leaves (detaches) by closing its side.
package control

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// maxTargets bounds the names in one stop, restart or logs request.
const maxTargets = 1000

// MaxLines is the most lines of the past a logs request may ask for.
const MaxLines = 1000000

// maxWindow bounds a terminal's columns and rows: they travel as uint16.
const maxWindow = 65535

// The operations of the protocol.
const (
	OpPs      = "ps"      // list every instance
	OpStop    = "stop"    // stop instances gracefully; they stay stopped
	OpRestart = "restart" // stop instances gracefully, then start them again
	OpScale   = "scale"   // set the number of instances of process types
	OpQuit    = "quit"    // stop procman as SIGTERM would
	OpAttach  = "attach"  // connect to one running process: its output, its input, its window size
	OpLogs    = "logs"    // the stream's recent lines, and with follow the lines that come
)

// A Request is one line a client sends:
//
//	{"v":1,"op":"ps"}
//	{"v":1,"op":"restart","targets":["web.1","worker"]}
//	{"v":1,"op":"scale","counts":{"web":3,"worker":0}}
//	{"v":1,"op":"quit"}
//	{"v":1,"op":"attach","targets":["web.1"],"cols":120,"rows":40}
//	{"v":1,"op":"logs","targets":["web"],"lines":100,"follow":true}
//
// Targets name a process type ("web": every instance) or one instance
// ("web.2"); attach takes exactly one, logs any number (none: every
// process). Each of the other fields belongs to one operation, and a
// request that sets it for another is refused. ParseRequest is the strict
// decoder the server uses.
type Request struct {
	V       int            `json:"v"`
	Op      string         `json:"op"`
	Targets []string       `json:"targets,omitempty"`
	Counts  map[string]int `json:"counts,omitempty"`

	Force bool `json:"force,omitempty"` // attach: take over from a client already attached
	Cols  int  `json:"cols,omitempty"`  // attach: the client's terminal size, 1..65535 each (both 0: not a terminal)
	Rows  int  `json:"rows,omitempty"`

	Lines  int    `json:"lines,omitempty"`  // logs: the last Lines lines (0..MaxLines)
	Follow bool   `json:"follow,omitempty"` // logs: then the lines that follow
	Format string `json:"format,omitempty"` // logs: "text" or "json"; "" means as procman's stream is written
	Color  bool   `json:"color,omitempty"`  // logs: colour the labels of text lines
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
// restart and scale acted on, the Feed of a logs request, the Session of an
// attach request, or the reason the request failed (one line, sent to the
// client as the response's error). The server owns the Feed or Session it
// is given and Closes it, whatever happens, once it is done with it (also
// after io.EOF, and when the answer came with an error or too late).
type Answer struct {
	Instances []Instance
	Feed      Feed    // logs: what to send after the OK line
	Session   Session // attach
	Err       error
}

// A Feed is a stream of bytes the server relays to a client.
type Feed interface {
	// Next waits until there are bytes and returns them; io.EOF once
	// the feed has ended; it returns early with an error when stop is
	// closed. Bytes returned with an error are still sent. The server
	// calls it from one goroutine at a time and does not keep the slice
	// after the next call.
	Next(stop <-chan struct{}) ([]byte, error)
	// Close says that the client is gone (or the server is closing, or
	// the feed has ended and been sent); it is idempotent. The server
	// never calls it while Next runs.
	Close()
}

// A Session is an attached client's process.
type Session interface {
	Feed // the process's raw output; io.EOF once the session has ended

	// Input hands on bytes the client typed, for the process's stdin.
	// It may block while the process does not read, but must return once
	// Close is called, which the server may do from another goroutine
	// meanwhile (and a call just after Close must return at once too).
	// The server calls Input and Resize from one goroutine (not Next's),
	// Input in the order the bytes came (frames may be joined), and does
	// not reuse p. An error drops those bytes; the session goes on until
	// Next ends it.
	Input(p []byte) error
	// Resize says that the client's terminal changed size (each from 1
	// to 65535; of quick changes, perhaps only the last). Like Input, it
	// may block until Close.
	Resize(cols, rows int)
	// Ending says how the session ended; valid once Next returned io.EOF.
	Ending() Ending
}

// An Ending says why an attach session ended (not by the client's own
// detach).
type Ending struct {
	Exited bool   `json:"exited"` // the process ended; Status is its shell-style status (code, or 128+N for signal N)
	Status int    `json:"status"`
	Reason string `json:"reason"` // one line: "web.1 exited with code 3", "another client attached to web.1 with --force", "procman is stopping"
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
		case "force":
			err = decodeOne(raw, &req.Force)
		case "cols":
			err = decodeOne(raw, &req.Cols)
		case "rows":
			err = decodeOne(raw, &req.Rows)
		case "lines":
			err = decodeOne(raw, &req.Lines)
		case "follow":
			err = decodeOne(raw, &req.Follow)
		case "format":
			err = decodeOne(raw, &req.Format)
		case "color":
			err = decodeOne(raw, &req.Color)
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
	if err := req.Validate(); err != nil {
		return req, err
	}
	// Validate sees values only: "follow":false on ps is as wrong as
	// "follow":true, though it decodes to the same as no follow at all.
	for _, f := range optionFields {
		if _, ok := fields[f.name]; ok && f.op != req.Op {
			return req, fmt.Errorf("%s takes no %s", req.Op, f.name)
		}
	}
	return req, nil
}

// optionFields are the fields that belong to one operation each, besides
// targets and counts.
var optionFields = []struct {
	name string
	op   string
	set  func(Request) bool
}{
	{"force", OpAttach, func(r Request) bool { return r.Force }},
	{"cols", OpAttach, func(r Request) bool { return r.Cols != 0 }},
	{"rows", OpAttach, func(r Request) bool { return r.Rows != 0 }},
	{"lines", OpLogs, func(r Request) bool { return r.Lines != 0 }},
	{"follow", OpLogs, func(r Request) bool { return r.Follow }},
	{"format", OpLogs, func(r Request) bool { return r.Format != "" }},
	{"color", OpLogs, func(r Request) bool { return r.Color }},
}

// stray names a field that r sets and its operation does not take.
func (r Request) stray() (string, bool) {
	for _, f := range optionFields {
		if f.set(r) && f.op != r.Op {
			return f.name, true
		}
	}
	return "", false
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
	case *bool:
		return "true or false"
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
	if name, ok := r.stray(); ok && known(r.Op) {
		return fmt.Errorf("%s takes no %s", r.Op, name)
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
	case OpAttach:
		return r.validateAttach()
	case OpLogs:
		return r.validateLogs()
	case "":
		return errors.New(`no operation: send "op"`)
	default:
		return fmt.Errorf("unknown operation %s (ps, stop, restart, scale, quit, attach, logs)", quote(r.Op))
	}
	return nil
}

func known(op string) bool {
	switch op {
	case OpPs, OpStop, OpRestart, OpScale, OpQuit, OpAttach, OpLogs:
		return true
	}
	return false
}

func (r Request) validateAttach() error {
	if r.Counts != nil {
		return errors.New("attach takes a target, not counts")
	}
	if len(r.Targets) != 1 {
		return errors.New("attach: name exactly one process type or instance (web, web.1)")
	}
	if err := checkTarget(r.Targets[0]); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	if (r.Cols == 0) != (r.Rows == 0) {
		return fmt.Errorf("attach: cols %d and rows %d: give both, or neither when not a terminal", r.Cols, r.Rows)
	}
	if r.Cols < 0 || r.Cols > maxWindow || r.Rows < 0 || r.Rows > maxWindow {
		return fmt.Errorf("attach: cols %d and rows %d: each must be from 1 to %d", r.Cols, r.Rows, maxWindow)
	}
	return nil
}

func (r Request) validateLogs() error {
	if r.Counts != nil {
		return errors.New("logs takes targets, not counts")
	}
	if len(r.Targets) > maxTargets {
		return fmt.Errorf("logs: more than %d targets", maxTargets)
	}
	for _, t := range r.Targets {
		if err := checkTarget(t); err != nil {
			return fmt.Errorf("logs: %w", err)
		}
	}
	if r.Lines < 0 || r.Lines > MaxLines {
		return fmt.Errorf("logs: lines %d must be from 0 to %d", r.Lines, MaxLines)
	}
	switch r.Format {
	case "", "text", "json":
	default:
		return fmt.Errorf("logs: format %s must be text or json", quote(r.Format))
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
func quote(s string) string { return quoteMax(s, 64) }

// quoteMax is quote, cut at max bytes.
func quoteMax(s string, max int) string {
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// An attach connection carries frames both ways after the response line:
//
//	type     1 byte
//	length   4 bytes, big-endian, at most 64 KiB
//	payload  length bytes
//
// From the client: 'i' bytes typed, for the process's stdin (in order);
// 'w' the terminal's new size, cols and rows as two big-endian uint16s,
// neither 0. From the server: 'o' the process's output; 'x' the session
// has ended, its Ending as JSON, after which the server closes the
// connection. Any other type, an oversized length or a 'w' of another
// size is malformed and ends the connection. Closing its side is how a
// client detaches.
const (
	frameInput  = 'i'
	frameWindow = 'w'
	frameOutput = 'o'
	frameEnd    = 'x'
)

// maxFrame is the largest payload of one frame; output is split into
// frames of at most this much.
const maxFrame = 64 << 10

const frameHeader = 5

// errFrameTooLong and errWindow make a frame malformed.
var (
	errFrameTooLong = fmt.Errorf("frame longer than %d bytes", maxFrame)
	errWindow       = errors.New("malformed window frame: want cols and rows, each from 1 to 65535")
)

// appendFrame appends a frame of type typ around payload, which must be at
// most maxFrame bytes, to buf.
func appendFrame(buf []byte, typ byte, payload []byte) []byte {
	buf = append(buf, typ)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(payload)))
	return append(buf, payload...)
}

// writeFrame writes one frame in one write, so that frames written by
// several goroutines under a lock never interleave.
func writeFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload) > maxFrame {
		return errFrameTooLong
	}
	_, err := w.Write(appendFrame(make([]byte, 0, frameHeader+len(payload)), typ, payload))
	return err
}

// readFrame reads one frame. Its payload is a new slice (nil when empty),
// so that it can be handed on. A length over maxFrame is an error before
// anything is allocated; a frame cut short is io.ErrUnexpectedEOF, and the
// end of r before a frame begins is io.EOF.
func readFrame(r io.Reader) (typ byte, payload []byte, err error) {
	var hdr [frameHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, errFrameTooLong
	}
	if n > 0 {
		payload = make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
	}
	return hdr[0], payload, nil
}

// windowPayload encodes a terminal size for a 'w' frame; ok is false
// unless both are from 1 to 65535.
func windowPayload(cols, rows int) (p []byte, ok bool) {
	if cols < 1 || cols > maxWindow || rows < 1 || rows > maxWindow {
		return nil, false
	}
	p = binary.BigEndian.AppendUint16(nil, uint16(cols))
	return binary.BigEndian.AppendUint16(p, uint16(rows)), true
}

// parseWindow decodes the payload of a 'w' frame.
func parseWindow(p []byte) (cols, rows int, err error) {
	if len(p) != 4 {
		return 0, 0, errWindow
	}
	cols, rows = int(binary.BigEndian.Uint16(p)), int(binary.BigEndian.Uint16(p[2:]))
	if cols == 0 || rows == 0 {
		return 0, 0, errWindow
	}
	return cols, rows, nil
}

// errLineTooLong is readLine's error for a line over its bound.
var errLineTooLong = errors.New("line too long")

// readLine reads up to and including the next newline, at most max bytes
// of it; it reads no further than that from br, which keeps what follows.
// At the end of br the line is what came, with io.EOF.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		if len(line)+len(frag) > max {
			return nil, errLineTooLong
		}
		line = append(line, frag...)
		if err != bufio.ErrBufferFull {
			return line, err
		}
	}
}
