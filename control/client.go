package control

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNotRunning says that no procman listens on the socket: there is none,
// or nothing accepts on it (a procman that was killed left it behind).
var ErrNotRunning = errors.New("procman is not running")

// maxResponse bounds the reply a client reads: ps of MaxCount instances of
// many types fits with room to spare.
const maxResponse = 16 << 20

// Call sends req to the procman listening at path and returns its
// response; timeout bounds the whole exchange. The error wraps
// ErrNotRunning when nothing listens there, and carries the server's
// message, as it is, when the server refused the request.
func Call(path string, req Request, timeout time.Duration) (Response, error) {
	c, _, resp, err := open(path, req, time.Now().Add(timeout))
	if c != nil {
		c.Close()
	}
	return resp, err
}

// open sends req to the procman listening at path and reads its response
// line, all before end. With the response OK, it returns the connection
// (its deadline still end) and a reader of it that holds what came after
// the line; else the connection is closed, and the error says why.
func open(path string, req Request, end time.Time) (*os.File, *bufio.Reader, Response, error) {
	var resp Response
	line, err := json.Marshal(req)
	if err != nil {
		return nil, nil, resp, err
	}
	if len(line)+1 > MaxRequest {
		return nil, nil, resp, fmt.Errorf("request longer than %d bytes", MaxRequest)
	}
	c, err := dial(path, end)
	if err != nil {
		return nil, nil, resp, err
	}
	c.SetDeadline(end)
	// A server that refuses a client before reading its request (one of
	// another user) answers and closes at once, which can fail the send:
	// its reply is still there to read, and says why.
	_, sendErr := c.Write(append(line, '\n'))
	br := bufio.NewReader(c)
	data, err := readLine(br, maxResponse)
	if resp, err = response(data, err, sendErr); err != nil {
		c.Close()
		return nil, nil, resp, err
	}
	return c, br, resp, nil
}

// response makes the Response of the line data read with err after the
// request was sent with sendErr.
func response(data []byte, err, sendErr error) (Response, error) {
	var resp Response
	switch {
	case sendErr != nil && err != nil:
		return resp, fmt.Errorf("send request: %w", plainErr(sendErr))
	case err == errLineTooLong:
		return resp, fmt.Errorf("procman's reply is longer than %d bytes", maxResponse)
	case errors.Is(err, io.EOF) && len(data) == 0:
		return resp, errors.New("procman closed the connection without answering")
	case err != nil && !errors.Is(err, io.EOF):
		return resp, fmt.Errorf("read reply: %w", plainErr(err))
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return resp, errors.New("procman's reply is not valid JSON")
	}
	if resp.V != Version {
		return resp, fmt.Errorf("procman replied in protocol version %d; this one speaks version %d", resp.V, Version)
	}
	if !resp.OK {
		if resp.Error == "" {
			return resp, errors.New("procman refused the request without saying why")
		}
		return resp, errors.New(resp.Error)
	}
	return resp, nil
}

// handshake bounds a stream's request and response line, as a Call's: the
// server may wait AskTimeout for the supervisor.
const handshake = AskTimeout + 30*time.Second

// Logs sends req (Op logs) to the procman listening at path and copies
// what it sends to w until procman closes the connection; it returns nil
// then. Its errors are those of Call, then those of reading the stream or
// of writing to w. With Follow, procman closes the connection when it
// stops; a caller that wants to stop following sooner exits, which ends
// the stream on procman's side.
func Logs(path string, req Request, w io.Writer) error {
	c, br, _, err := open(path, req, time.Now().Add(handshake))
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Time{})
	// Not io.Copy: its error does not say which side failed.
	buf := make([]byte, 32<<10)
	for {
		n, err := br.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read logs: %w", plainErr(err))
		}
	}
}

// dial connects to path. A full backlog (EAGAIN on Linux: the server is
// busy with other clients) is waited out until end, as a TCP connect would
// be: the kernel does not wait for room on a non-blocking unix socket, and
// a blocking connect would hold a thread and ignore end. macOS and FreeBSD
// refuse a connect to a full backlog (ECONNREFUSED), which cannot be told
// from a socket nothing listens on.
func dial(path string, end time.Time) (*os.File, error) {
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		fd, err := connect(path)
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), path), nil
		case errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED):
			return nil, ErrNotRunning
		case !errors.Is(err, syscall.EAGAIN) || !time.Now().Before(end):
			return nil, fmt.Errorf("control socket %s: %w", path, err)
		}
		time.Sleep(min(wait, time.Until(end)))
	}
}

// connect returns a non-blocking unix stream socket connected to path, so
// that os.NewFile puts it in the runtime's poller and its deadlines work.
// Its error says which call failed, as package net's did ("connect:
// connection refused"), and wraps the errno.
func connect(path string) (int, error) {
	fd, err := socket()
	if err != nil {
		return -1, os.NewSyscallError("socket", err)
	}
	// A unix socket connects at once or fails (EAGAIN when the backlog is
	// full): there is no EINPROGRESS to wait for, as with TCP.
	for {
		err = unix.Connect(fd, &unix.SockaddrUnix{Name: path})
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return -1, os.NewSyscallError("connect", err)
	}
	return fd, nil
}

// WriteTable writes instances as `procman ps` shows them, one row each
// under the header LABEL STATE PID UPTIME RESTARTS PORT READY, columns
// aligned with spaces. Pid and uptime (to now) are shown only for
// instances that run, as the pid of one that has exited may belong to
// another process by now; a missing value is "-".
func WriteTable(w io.Writer, instances []Instance, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LABEL\tSTATE\tPID\tUPTIME\tRESTARTS\tPORT\tREADY")
	for _, in := range instances {
		pid, up, port, ready := "-", "-", "-", "no"
		if live := in.State == "running" || in.State == "stopping"; live && in.Pid > 0 {
			pid = strconv.Itoa(in.Pid)
			if !in.Started.IsZero() {
				up = Uptime(now.Sub(in.Started))
			}
		}
		if in.Port > 0 {
			port = strconv.Itoa(in.Port)
		}
		if in.Ready {
			ready = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", in.Label, in.State, pid, up, in.Restarts, port, ready)
	}
	return tw.Flush()
}

// Uptime formats d in two units at most, as ps does: 42s, 3m07s, 5h02m,
// 2d03h.
func Uptime(d time.Duration) string {
	s := int64(max(d, 0) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}
