package control

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

var requestTests = []struct {
	name string
	line string
	want Request // when err is ""
	err  string  // a part of the error
}{
	{name: "ps", line: `{"v":1,"op":"ps"}`, want: Request{V: 1, Op: "ps"}},
	{name: "newline and spaces", line: " {\"op\": \"ps\", \"v\": 1}\r\n", want: Request{V: 1, Op: "ps"}},
	{name: "quit", line: `{"v":1,"op":"quit"}`, want: Request{V: 1, Op: "quit"}},
	{name: "restart", line: `{"v":1,"op":"restart","targets":["web.1","worker"]}`,
		want: Request{V: 1, Op: "restart", Targets: []string{"web.1", "worker"}}},
	{name: "stop", line: `{"v":1,"op":"stop","targets":["a_b-C.12"]}`,
		want: Request{V: 1, Op: "stop", Targets: []string{"a_b-C.12"}}},
	{name: "scale", line: `{"v":1,"op":"scale","counts":{"web":3,"worker":0}}`,
		want: Request{V: 1, Op: "scale", Counts: map[string]int{"web": 3, "worker": 0}}},
	{name: "scale at the limit", line: `{"v":1,"op":"scale","counts":{"web":1000}}`,
		want: Request{V: 1, Op: "scale", Counts: map[string]int{"web": 1000}}},
	{name: "attach", line: `{"v":1,"op":"attach","targets":["web.1"]}`,
		want: Request{V: 1, Op: "attach", Targets: []string{"web.1"}}},
	{name: "attach a type, forced, sized", line: `{"v":1,"op":"attach","targets":["web"],"force":true,"cols":120,"rows":40}`,
		want: Request{V: 1, Op: "attach", Targets: []string{"web"}, Force: true, Cols: 120, Rows: 40}},
	{name: "attach at the size limit", line: `{"v":1,"op":"attach","targets":["web"],"cols":65535,"rows":1}`,
		want: Request{V: 1, Op: "attach", Targets: []string{"web"}, Cols: 65535, Rows: 1}},
	{name: "attach not a terminal, said", line: `{"v":1,"op":"attach","targets":["web"],"cols":0,"rows":0,"force":false}`,
		want: Request{V: 1, Op: "attach", Targets: []string{"web"}}},
	{name: "logs", line: `{"v":1,"op":"logs"}`, want: Request{V: 1, Op: "logs"}},
	{name: "logs everything", line: `{"v":1,"op":"logs","targets":["web","worker.2"],"lines":100,"follow":true,"format":"json","color":true}`,
		want: Request{V: 1, Op: "logs", Targets: []string{"web", "worker.2"}, Lines: 100, Follow: true, Format: "json", Color: true}},
	{name: "logs text at the line limit", line: `{"v":1,"op":"logs","lines":1000000,"format":"text"}`,
		want: Request{V: 1, Op: "logs", Lines: 1000000, Format: "text"}},
	{name: "logs zero values said", line: `{"v":1,"op":"logs","lines":0,"follow":false,"format":"","color":false}`,
		want: Request{V: 1, Op: "logs"}},

	{name: "op twice: the last would win", line: `{"v":1,"op":"ps","op":"quit"}`, err: `field "op" appears twice`},
	{name: "v twice", line: `{"v":1,"v":1,"op":"ps"}`, err: `field "v" appears twice`},
	{name: "a count twice", line: `{"v":1,"op":"scale","counts":{"web":1,"web":50}}`, err: `field "counts.web" appears twice`},
	{name: "case-folded key", line: `{"v":1,"op":"ps","OP":"quit"}`, err: `unknown field "OP"`},
	{name: "case-folded key alone", line: `{"v":1,"Op":"quit"}`, err: `unknown field "Op"`},

	{name: "empty", line: "", err: "empty request"},
	{name: "blank", line: " \n", err: "empty request"},
	{name: "not JSON", line: "ps", err: "malformed JSON"},
	{name: "truncated", line: `{"v":1,"op":"ps"`, err: "malformed JSON"},
	{name: "two objects", line: `{"v":1,"op":"ps"}{"v":1,"op":"quit"}`, err: "malformed JSON"},
	{name: "trailing garbage", line: `{"v":1,"op":"ps"} x`, err: "malformed JSON"},
	{name: "array", line: `[1,2]`, err: "expected an object, got array"},
	{name: "null", line: `null`, err: "must be a JSON object"},
	{name: "string", line: `"ps"`, err: "expected an object, got string"},
	{name: "no version", line: `{"op":"ps"}`, err: `no protocol version`},
	{name: "version 2", line: `{"v":2,"op":"ps"}`, err: "unsupported protocol version 2"},
	{name: "version 0", line: `{"v":0,"op":"ps"}`, err: "unsupported protocol version 0"},
	{name: "version string", line: `{"v":"1","op":"ps"}`, err: `field "v": expected a whole number, got string`},
	{name: "version fraction", line: `{"v":1.5,"op":"ps"}`, err: `field "v": expected a whole number`},
	{name: "huge version", line: `{"v":1e999,"op":"ps"}`, err: `field "v"`},
	{name: "unknown field", line: `{"v":1,"op":"ps","forced":true}`, err: `unknown field "forced"`},
	{name: "force in capitals", line: `{"v":1,"op":"attach","targets":["web"],"Force":true}`, err: `unknown field "Force"`},
	{name: "force twice", line: `{"v":1,"op":"attach","targets":["web"],"force":false,"force":true}`, err: `field "force" appears twice`},
	{name: "field in capitals", line: `{"v":1,"OP":"quit"}`, err: `unknown field "OP"`},
	{name: "no op", line: `{"v":1}`, err: "no operation"},
	{name: "unknown op", line: `{"v":1,"op":"rm -rf"}`, err: `unknown operation "rm -rf"`},
	{name: "op not a string", line: `{"v":1,"op":7}`, err: `field "op": expected a string, got number`},
	{name: "ps with targets", line: `{"v":1,"op":"ps","targets":["web"]}`, err: "ps takes no targets"},
	{name: "quit with counts", line: `{"v":1,"op":"quit","counts":{"web":1}}`, err: "quit takes no targets"},
	{name: "restart without targets", line: `{"v":1,"op":"restart"}`, err: "name a process type"},
	{name: "stop empty targets", line: `{"v":1,"op":"stop","targets":[]}`, err: "name a process type"},
	{name: "stop with counts", line: `{"v":1,"op":"stop","targets":["web"],"counts":{"web":1}}`, err: "takes targets, not counts"},
	{name: "targets not strings", line: `{"v":1,"op":"stop","targets":[1]}`, err: `expected an array of strings, got number`},
	{name: "target with space", line: `{"v":1,"op":"stop","targets":["web 1"]}`, err: `target "web 1"`},
	{name: "target empty", line: `{"v":1,"op":"stop","targets":[""]}`, err: `target ""`},
	{name: "target instance 0", line: `{"v":1,"op":"restart","targets":["web.0"]}`, err: "instance number"},
	{name: "target instance 01", line: `{"v":1,"op":"restart","targets":["web.01"]}`, err: "instance number"},
	{name: "target instance -1", line: `{"v":1,"op":"restart","targets":["web.-1"]}`, err: "instance number"},
	{name: "target two dots", line: `{"v":1,"op":"restart","targets":["web.1.2"]}`, err: "instance number"},
	{name: "target path", line: `{"v":1,"op":"restart","targets":["../web"]}`, err: "target"},
	{name: "target control char", line: `{"v":1,"op":"restart","targets":["web\u0000"]}`, err: "target"},
	{name: "scale without counts", line: `{"v":1,"op":"scale"}`, err: "give counts"},
	{name: "scale with targets", line: `{"v":1,"op":"scale","targets":["web"],"counts":{"web":1}}`, err: "counts, not targets"},
	{name: "scale negative", line: `{"v":1,"op":"scale","counts":{"web":-1}}`, err: "web=-1: count must be from 0 to 1000"},
	{name: "scale too many", line: `{"v":1,"op":"scale","counts":{"web":1001}}`, err: "count must be from 0 to 1000"},
	{name: "scale fraction", line: `{"v":1,"op":"scale","counts":{"web":1.5}}`, err: `expected an object of counts`},
	{name: "scale overflow", line: `{"v":1,"op":"scale","counts":{"web":99999999999999999999}}`, err: `field "counts"`},
	{name: "scale bad name", line: `{"v":1,"op":"scale","counts":{"we b":1}}`, err: `process name "we b"`},
	{name: "scale counts array", line: `{"v":1,"op":"scale","counts":[1]}`, err: `field "counts"`},
	{name: "ps with force", line: `{"v":1,"op":"ps","force":true}`, err: "ps takes no force"},
	{name: "ps with follow false", line: `{"v":1,"op":"ps","follow":false}`, err: "ps takes no follow"},
	{name: "quit with lines", line: `{"v":1,"op":"quit","lines":5}`, err: "quit takes no lines"},
	{name: "stop with color", line: `{"v":1,"op":"stop","targets":["web"],"color":true}`, err: "stop takes no color"},
	{name: "restart with format", line: `{"v":1,"op":"restart","targets":["web"],"format":"json"}`, err: "restart takes no format"},
	{name: "scale with cols", line: `{"v":1,"op":"scale","counts":{"web":1},"cols":80,"rows":24}`, err: "scale takes no cols"},
	{name: "attach with lines", line: `{"v":1,"op":"attach","targets":["web"],"lines":10}`, err: "attach takes no lines"},
	{name: "attach with follow false", line: `{"v":1,"op":"attach","targets":["web"],"follow":false}`, err: "attach takes no follow"},
	{name: "logs with force", line: `{"v":1,"op":"logs","force":true}`, err: "logs takes no force"},
	{name: "logs with rows zero", line: `{"v":1,"op":"logs","rows":0}`, err: "logs takes no rows"},
	{name: "attach without target", line: `{"v":1,"op":"attach"}`, err: "attach: name exactly one"},
	{name: "attach empty targets", line: `{"v":1,"op":"attach","targets":[]}`, err: "attach: name exactly one"},
	{name: "attach two targets", line: `{"v":1,"op":"attach","targets":["web.1","web.2"]}`, err: "attach: name exactly one"},
	{name: "attach with counts", line: `{"v":1,"op":"attach","targets":["web"],"counts":{"web":1}}`, err: "attach takes a target, not counts"},
	{name: "attach bad target", line: `{"v":1,"op":"attach","targets":["web.0"]}`, err: `attach: target "web.0"`},
	{name: "attach cols alone", line: `{"v":1,"op":"attach","targets":["web"],"cols":80}`, err: "cols 80 and rows 0: give both"},
	{name: "attach rows alone", line: `{"v":1,"op":"attach","targets":["web"],"rows":24}`, err: "cols 0 and rows 24: give both"},
	{name: "attach cols too many", line: `{"v":1,"op":"attach","targets":["web"],"cols":65536,"rows":24}`, err: "each must be from 1 to 65535"},
	{name: "attach rows negative", line: `{"v":1,"op":"attach","targets":["web"],"cols":80,"rows":-1}`, err: "each must be from 1 to 65535"},
	{name: "attach cols fraction", line: `{"v":1,"op":"attach","targets":["web"],"cols":80.5,"rows":24}`, err: `field "cols": expected a whole number`},
	{name: "attach force not a bool", line: `{"v":1,"op":"attach","targets":["web"],"force":1}`, err: `field "force": expected true or false, got number`},
	{name: "attach force a string", line: `{"v":1,"op":"attach","targets":["web"],"force":"true"}`, err: `field "force": expected true or false, got string`},
	{name: "logs with counts", line: `{"v":1,"op":"logs","counts":{"web":1}}`, err: "logs takes targets, not counts"},
	{name: "logs bad target", line: `{"v":1,"op":"logs","targets":["web","a b"]}`, err: `logs: target "a b"`},
	{name: "logs lines negative", line: `{"v":1,"op":"logs","lines":-1}`, err: "lines -1 must be from 0 to 1000000"},
	{name: "logs lines too many", line: `{"v":1,"op":"logs","lines":1000001}`, err: "lines 1000001 must be from 0 to 1000000"},
	{name: "logs format unknown", line: `{"v":1,"op":"logs","format":"yaml"}`, err: `format "yaml" must be text or json`},
	{name: "logs format in capitals", line: `{"v":1,"op":"logs","format":"JSON"}`, err: `format "JSON" must be text or json`},
	{name: "logs format a number", line: `{"v":1,"op":"logs","format":1}`, err: `field "format": expected a string, got number`},
	{name: "logs follow null", line: `{"v":1,"op":"logs","follow":null}`, want: Request{V: 1, Op: "logs"}},
	{name: "unknown op with force", line: `{"v":1,"op":"tail","force":true}`, err: `unknown operation "tail"`},
	{name: "invalid UTF-8 op", line: "{\"v\":1,\"op\":\"\xff\"}", err: "unknown operation"},
}

func TestParseRequest(t *testing.T) {
	for _, tt := range requestTests {
		t.Run(tt.name, func(t *testing.T) {
			have, err := ParseRequest([]byte(tt.line))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("want an error containing %q, have %v", tt.err, err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(have, tt.want) {
				t.Errorf("want %+v, have %+v", tt.want, have)
			}
		})
	}
}

// A huge unknown name is cut short in the error, so that a reply cannot
// be made to echo a 64 KiB request.
func TestParseRequestShortErrors(t *testing.T) {
	long := strings.Repeat("x", 60000)
	for _, line := range []string{
		`{"v":1,"op":"` + long + `"}`,
		`{"v":1,"` + long + `":1}`,
		`{"v":1,"op":"stop","targets":["` + long + `"]}`,
		`{"v":1,"op":"scale","counts":{"web":1` + strings.Repeat("0", 5000) + `}}`,
	} {
		_, err := ParseRequest([]byte(line))
		if err == nil || len(err.Error()) > 200 {
			t.Errorf("want a short error, have %d bytes", len(err.Error()))
		}
	}
}

// What a client sends is what the server reads.
func TestRequestRoundTrip(t *testing.T) {
	for _, tt := range requestTests {
		if tt.err != "" {
			continue
		}
		data, err := json.Marshal(tt.want)
		if err != nil {
			t.Fatal(err)
		}
		have, err := ParseRequest(data)
		if err != nil || !reflect.DeepEqual(have, tt.want) {
			t.Errorf("%s: %s read back as %+v, %v", tt.name, data, have, err)
		}
	}
}

func TestUptime(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{-time.Second, "0s"},
		{0, "0s"},
		{999 * time.Millisecond, "0s"},
		{42 * time.Second, "42s"},
		{time.Minute, "1m00s"},
		{3*time.Minute + 7*time.Second, "3m07s"},
		{time.Hour - time.Second, "59m59s"},
		{5*time.Hour + 2*time.Minute + 59*time.Second, "5h02m"},
		{24 * time.Hour, "1d00h"},
		{51 * time.Hour, "2d03h"},
	} {
		if have := Uptime(tt.d); have != tt.want {
			t.Errorf("Uptime(%v): want %q, have %q", tt.d, tt.want, have)
		}
	}
}

func TestWriteTable(t *testing.T) {
	now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var b strings.Builder
	err := WriteTable(&b, []Instance{
		{Label: "web.1", Name: "web", State: "running", Pid: 4242, Started: now.Add(-65 * time.Second), Port: 5000, Ready: true},
		{Label: "web.2", Name: "web", State: "stopped", Pid: 4243, Restarts: 2, Port: 5001, Exit: "terminated by SIGTERM"},
		{Label: "web.3", Name: "web", State: "stopping", Pid: 4244, Started: now.Add(-3 * time.Hour), Port: 5002},
		{Label: "worker.1", Name: "worker", State: "restarting", Pid: 4245, Restarts: 12, Exit: "exited with code 1"},
		{Label: "clock.1", Name: "clock", State: "pending"},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := "" +
		"LABEL     STATE       PID   UPTIME  RESTARTS  PORT  READY\n" +
		"web.1     running     4242  1m05s   0         5000  yes\n" +
		"web.2     stopped     -     -       2         5001  no\n" +
		"web.3     stopping    4244  3h00m   0         5002  no\n" +
		"worker.1  restarting  -     -       12        -     no\n" +
		"clock.1   pending     -     -       0         -     no\n"
	if have := b.String(); have != want {
		t.Errorf("want\n%s\nhave\n%s", want, have)
	}
}
