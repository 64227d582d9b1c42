package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// DefaultDetachKeys is the detach sequence when the user names none:
// Ctrl-B, then d.
const DefaultDetachKeys = "ctrl-b,d"

// ParseDetachKeys parses a docker-style detach sequence, "ctrl-b,d": keys
// separated by commas, at least one, each ctrl-a to ctrl-z, ctrl-@,
// ctrl-[, ctrl-\, ctrl-], ctrl-^, ctrl-_ (the letter in either case), or a
// single printable ASCII character. It returns the bytes a terminal in raw
// mode sends for them. Its errors are one line naming the bad item.
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("detach keys: none given (like ctrl-b,d)")
	}
	items := strings.Split(s, ",")
	keys := make([]byte, 0, len(items))
	for _, item := range items {
		k, ok := detachKey(item)
		if !ok {
			return nil, fmt.Errorf("detach keys: %s is not a key: want ctrl-a..ctrl-z, ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_ or one printable character", quoteMax(item, 16))
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func detachKey(item string) (byte, bool) {
	if len(item) == 1 {
		return item[0], ' ' <= item[0] && item[0] <= '~'
	}
	if len(item) != len("ctrl-x") || !strings.EqualFold(item[:5], "ctrl-") {
		return 0, false
	}
	switch c := item[5]; {
	case 'a' <= c && c <= 'z':
		return c - 'a' + 1, true
	case 'A' <= c && c <= 'Z':
		return c - 'A' + 1, true
	case '@' <= c && c <= '_': // @ [ \ ] ^ _, and the capitals above
		return c - '@', true
	}
	return 0, false
}

// A detector finds the detach sequence in what the user types, across
// reads. It holds back a prefix of the sequence until the next byte shows
// whether the sequence goes on.
type detector struct {
	keys []byte
	held int // keys[:held] came last and have not been passed on
}

// scan returns the bytes of p to pass on, in order, and whether the
// sequence is complete; what follows it in p is dropped.
func (d *detector) scan(p []byte) (out []byte, detached bool) {
	for _, b := range p {
		// Of the held bytes and b, pass on the fewest from the front
		// that leave a prefix of the sequence ("aab" typed as "aaab"
		// still detaches).
		k := d.held + 1
		for ; k > 0; k-- {
			if b == d.keys[k-1] && bytes.Equal(d.keys[d.held+1-k:d.held], d.keys[:k-1]) {
				break
			}
		}
		if k == 0 {
			out = append(append(out, d.keys[:d.held]...), b)
		} else {
			out = append(out, d.keys[:d.held+1-k]...)
		}
		d.held = k
		if k == len(d.keys) {
			d.held = 0
			return out, true
		}
	}
	return out, false
}

// flush returns the held bytes: the input ended in the middle of the
// sequence.
func (d *detector) flush() []byte {
	out := d.keys[:d.held:d.held]
	d.held = 0
	return out
}

// An AttachResult says how an attach ended without an error: the user
// detached, or the session ended (Ending says how).
type AttachResult struct {
	Detached bool
	Ending   Ending
}

// Attach sends req (Op attach) to the procman listening at path, then
// relays until the session ends, the user detaches or the connection
// fails. What is read from in goes to the process as input, except the
// detach sequence keys (at least one byte), which ends the attach: a
// prefix of the sequence followed by something else is sent as typed. Each
// size on resize (cols, rows; a size out of 1..65535 is skipped) tells the
// process the terminal's new size. The process's output is written to out.
// When in reaches its end, no more input is sent, but output is still
// shown until the session ends. The errors before the session starts are
// those of Call.
//
// Reading from in goes on in a goroutine of its own, which Attach cannot
// interrupt: when the session ends (rather than the user detaching), that
// goroutine stays blocked in in.Read, and the caller should exit soon
// after (os.Stdin cannot be unblocked) or give an in that ends. Whatever
// it reads then is dropped.
func Attach(path string, req Request, in io.Reader, out io.Writer, keys []byte, resize <-chan [2]int) (AttachResult, error) {
	if len(keys) == 0 {
		return AttachResult{}, errors.New("attach: no detach keys")
	}
	c, br, _, err := open(path, req, time.Now().Add(handshake))
	if err != nil {
		return AttachResult{}, err
	}
	c.SetDeadline(time.Time{})

	var mu sync.Mutex // frames from two goroutines must not interleave
	send := func(typ byte, p []byte) error {
		mu.Lock()
		defer mu.Unlock()
		return writeFrame(c, typ, p)
	}
	done := make(chan struct{})
	detached := make(chan struct{})
	go func() {
		if sendInput(in, keys, send, done) {
			close(detached)
			c.SetReadDeadline(time.Now()) // wakes the frame reader below
		}
	}()
	var resizer sync.WaitGroup
	defer func() {
		close(done)
		// Closing is how procman learns that the user detached, and it
		// fails a send blocked on a procman that does not read.
		c.Close()
		resizer.Wait()
	}()
	resizer.Go(func() {
		for {
			select {
			case size, ok := <-resize:
				if !ok {
					return
				}
				if p, ok := windowPayload(size[0], size[1]); ok && send(frameWindow, p) != nil {
					return
				}
			case <-done:
				return
			}
		}
	})

	for {
		typ, p, err := readFrame(br)
		select {
		case <-detached:
			return AttachResult{Detached: true}, nil
		default:
		}
		switch {
		case err == io.EOF:
			return AttachResult{}, errors.New("procman closed the connection before the session ended")
		case err != nil:
			return AttachResult{}, fmt.Errorf("attach: %w", plainErr(err))
		case typ == frameOutput:
			if _, err := out.Write(p); err != nil {
				return AttachResult{}, err
			}
		case typ == frameEnd:
			var end Ending
			if err := json.Unmarshal(p, &end); err != nil {
				return AttachResult{}, errors.New("attach: procman's end of session is not valid JSON")
			}
			return AttachResult{Ending: end}, nil
		default:
			return AttachResult{}, fmt.Errorf("attach: procman sent a frame of unknown type %q", typ)
		}
	}
}

// sendInput sends what it reads from in as input frames, until in ends, a
// send fails, done is closed, or the user types keys; it reports the last.
func sendInput(in io.Reader, keys []byte, send func(byte, []byte) error, done <-chan struct{}) (detached bool) {
	d := detector{keys: keys}
	buf := make([]byte, 32<<10)
	for {
		n, err := in.Read(buf)
		select {
		case <-done:
			return false
		default:
		}
		p, hit := d.scan(buf[:n])
		if err != nil && !hit {
			p = append(p, d.flush()...)
		}
		for len(p) > 0 {
			m := min(len(p), maxFrame)
			if send(frameInput, p[:m]) != nil {
				return false
			}
			p = p[m:]
		}
		if hit {
			return true
		}
		if err != nil {
			return false
		}
	}
}
