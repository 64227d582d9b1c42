package logmux

import (
	"bytes"
	"encoding/binary"
)

// recentMax bounds the past a TapRecent feed starts with.
const recentMax = 16 << 10

// recent returns, with mu held, the last lines lines of the output of pid
// under label that the ring holds, as the child wrote them (a last line
// without its newline included), at most recentMax bytes, beginning at
// the start of a line.
func (r *ring) recent(label string, pid, lines int) []byte {
	id, ok := r.ids[label]
	if !ok || r.used == 0 {
		return nil
	}
	var out []byte
	for off := 0; off < r.used; {
		at := (r.head + off) % len(r.buf)
		size := int(r.u32(at))
		h := r.bytes(at, recHead)
		kind := h[4]
		if (kind == recOutput || kind == recLine) && binary.LittleEndian.Uint32(h[6:]) == id &&
			int(int32(binary.LittleEndian.Uint32(h[10:]))) == pid {
			out = append(out, r.bytesAfter(at, size)...)
			if len(out) > 2*recentMax {
				out = append(out[:0], lastLinesRaw(out, lines, recentMax)...)
			}
		}
		off += size
	}
	return bytes.Clone(lastLinesRaw(out, lines, recentMax))
}

// bytes copies n bytes of the ring from i, which may wrap.
func (r *ring) bytes(i, n int) []byte {
	out := make([]byte, n)
	k := copy(out, r.buf[i:min(i+n, len(r.buf))])
	copy(out[k:], r.buf)
	return out
}

// bytesAfter copies the data of the record of size bytes at i.
func (r *ring) bytesAfter(i, size int) []byte {
	return r.bytes((i+recHead)%len(r.buf), size-recHead)
}

// lastLinesRaw returns the end of p that holds its last n lines (a last
// one without its newline counts), cut to at most max bytes at a line
// start when one is there.
func lastLinesRaw(p []byte, n, max int) []byte {
	end := len(p)
	if end > 0 && p[end-1] == '\n' {
		end--
	}
	start := 0
	for i := end - 1; i >= 0; i-- {
		if p[i] == '\n' {
			if n--; n == 0 {
				start = i + 1
				break
			}
		}
	}
	if len(p)-start > max {
		cut := len(p) - max
		if i := bytes.IndexByte(p[cut:], '\n'); i >= 0 && cut+i+1 < len(p) {
			cut += i + 1
		}
		start = cut
	}
	return p[start:]
}
