package backup

import (
	"bufio"
	"encoding/binary"
	"io"
)

// Content-defined chunking of the database copy, so that an incremental backup uploads
// only the parts that changed: boundaries follow the content (a gear rolling hash), so
// rows added in the middle shift the boundaries after them with the data instead of
// changing every later fixed-size block. The gear table is derived from the backup key:
// part sizes then reveal nothing about the content to whoever sees the destination.

const (
	cdcMin  = 256 << 10
	cdcMask = 1<<20 - 1 // about 1 MiB on average past the minimum
	cdcMax  = ChunkSize // one sealed chunk per part at most
)

type chunker struct {
	r    *bufio.Reader
	gear [256]uint64
	buf  []byte
}

func newChunker(r io.Reader, k *Key) *chunker {
	c := &chunker{r: bufio.NewReaderSize(r, 1<<20), buf: make([]byte, 0, cdcMax)}
	seed := derive(k.raw, "trunkline backup cdc gear v1")
	for i := range c.gear {
		// A deterministic expansion of the seed: one 64-bit value per byte value.
		b := derive(seed, string([]byte{byte(i)}))
		c.gear[i] = binary.BigEndian.Uint64(b)
	}
	return c
}

// next returns the next part (valid until the following call), or io.EOF.
func (c *chunker) next() ([]byte, error) {
	c.buf = c.buf[:0]
	var h uint64
	for len(c.buf) < cdcMax {
		b, err := c.r.ReadByte()
		if err == io.EOF {
			if len(c.buf) == 0 {
				return nil, io.EOF
			}
			return c.buf, nil
		}
		if err != nil {
			return nil, err
		}
		c.buf = append(c.buf, b)
		h = h<<1 + c.gear[b]
		if len(c.buf) >= cdcMin && h&cdcMask == 0 {
			break
		}
	}
	return c.buf, nil
}
