package recording

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
)

const (
	magic       = "TLREC1"
	version1    = 1
	keyIDSize   = 8
	saltSize    = 16
	prefixSize  = 8
	nonceSize   = prefixSize + 4
	tagSize     = 16
	chunkSize   = 64 << 10            // plaintext bytes in every chunk but the last
	sealedSize  = chunkSize + tagSize // on-disk size of a full chunk
	fileKeyInfo = "trunkline recording file key v1"
)

type header struct {
	raw     []byte // as on disk; part of every chunk's additional data
	purpose string
	keyID   [keyIDSize]byte
	salt    [saltSize]byte
	prefix  [prefixSize]byte
}

func (h *header) marshal() []byte {
	b := make([]byte, 0, len(magic)+2+len(h.purpose)+keyIDSize+saltSize+prefixSize)
	b = append(b, magic...)
	b = append(b, version1, byte(len(h.purpose)))
	b = append(b, h.purpose...)
	b = append(b, h.keyID[:]...)
	b = append(b, h.salt[:]...)
	b = append(b, h.prefix[:]...)
	return b
}

// readHeader reads and parses a header; anything malformed is ErrCorrupt.
func readHeader(r io.Reader) (*header, error) {
	var fixed [len(magic) + 2]byte
	if err := readFull(r, fixed[:]); err != nil {
		return nil, err
	}
	if string(fixed[:len(magic)]) != magic || fixed[len(magic)] != version1 {
		return nil, ErrCorrupt
	}
	rest := make([]byte, int(fixed[len(magic)+1])+keyIDSize+saltSize+prefixSize)
	if err := readFull(r, rest); err != nil {
		return nil, err
	}
	h := &header{raw: append(fixed[:], rest...)}
	n := len(rest) - keyIDSize - saltSize - prefixSize
	h.purpose = string(rest[:n])
	rest = rest[n:]
	rest = rest[copy(h.keyID[:], rest):]
	rest = rest[copy(h.salt[:], rest):]
	copy(h.prefix[:], rest)
	return h, nil
}

// readFull is io.ReadFull with a short file reported as ErrCorrupt.
func readFull(r io.Reader, b []byte) error {
	_, err := io.ReadFull(r, b)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return ErrCorrupt
	}
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	return nil
}

// chunkSealer holds what sealing and opening chunks of one file share.
type chunkSealer struct {
	aead  cipher.AEAD
	nonce [nonceSize]byte
	aad   []byte // header, ids, then 5 bytes rewritten per chunk
}

func newChunkSealer(h *header, dk *dataKey, accountID, recordingID string) (*chunkSealer, error) {
	fileKey, err := hkdf.Key(sha256.New, dk.raw, h.salt[:], fileKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	block, err := aes.NewCipher(fileKey)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	s := &chunkSealer{aead: aead}
	copy(s.nonce[:], h.prefix[:])
	aad := make([]byte, 0, len(h.raw)+4+len(accountID)+len(recordingID)+5)
	aad = append(aad, h.raw...)
	aad = binary.BigEndian.AppendUint16(aad, uint16(len(accountID)))
	aad = append(aad, accountID...)
	aad = binary.BigEndian.AppendUint16(aad, uint16(len(recordingID)))
	aad = append(aad, recordingID...)
	s.aad = append(aad, 0, 0, 0, 0, 0)
	return s, nil
}

// at sets the nonce and additional data for chunk i.
func (s *chunkSealer) at(i uint32, final bool) {
	binary.BigEndian.PutUint32(s.nonce[prefixSize:], i)
	tail := s.aad[len(s.aad)-5:]
	binary.BigEndian.PutUint32(tail, i)
	tail[4] = 0
	if final {
		tail[4] = 1
	}
}

// Writer encrypts a recording into a temporary file; Close commits it, Abort discards it.
// A Writer is not safe for concurrent use.
type Writer struct {
	file      *os.File
	tmp, path string
	s         *chunkSealer
	buf       []byte // plaintext of the current chunk, with room for the tag
	index     uint32
	size      int64
	err       error // sticky: the first failure, or errClosed
}

var errClosed = errors.New("recording: writer closed")

func newWriter(path string, dk *dataKey, accountID, recordingID string, random io.Reader) (*Writer, error) {
	h := &header{purpose: Purpose, keyID: dk.id}
	if _, err := io.ReadFull(random, h.salt[:]); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	if _, err := io.ReadFull(random, h.prefix[:]); err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	h.raw = h.marshal()
	s, err := newChunkSealer(h, dk, accountID, recordingID)
	if err != nil {
		return nil, err
	}
	// CreateTemp makes the file 0600. The dot and suffix keep it from ever matching an id.
	file, err := os.CreateTemp(filepath.Dir(path), "."+recordingID+".*.tmp")
	if err != nil {
		return nil, fmt.Errorf("recording: %w", err)
	}
	w := &Writer{file: file, tmp: file.Name(), path: path, s: s, buf: make([]byte, 0, sealedSize)}
	if _, err := file.Write(h.raw); err != nil {
		w.Abort()
		return nil, fmt.Errorf("recording: %w", err)
	}
	return w, nil
}

// Write encrypts p. Data is sealed a chunk at a time, so up to 64 KiB stays in memory
// until the next Write or Close.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := 0
	for len(p) > 0 {
		// A full chunk is sealed only once more data arrives: only Close knows which
		// chunk is the last.
		if len(w.buf) == chunkSize {
			if err := w.seal(false); err != nil {
				return n, err
			}
		}
		k := copy(w.buf[len(w.buf):chunkSize], p)
		w.buf = w.buf[:len(w.buf)+k]
		p = p[k:]
		n += k
		w.size += int64(k)
	}
	return n, nil
}

func (w *Writer) seal(final bool) error {
	if !final && w.index == math.MaxUint32 {
		return w.fail(errors.New("recording: too large"))
	}
	w.s.at(w.index, final)
	ct := w.s.aead.Seal(w.buf[:0], w.s.nonce[:], w.buf, w.s.aad)
	if _, err := w.file.Write(ct); err != nil {
		return w.fail(fmt.Errorf("recording: %w", err))
	}
	w.buf = w.buf[:0]
	w.index++
	return nil
}

// fail records the first error; the temporary file is removed by Close or Abort.
func (w *Writer) fail(err error) error {
	if w.err == nil {
		w.err = err
	}
	return w.err
}

// Size returns the number of plaintext bytes written.
func (w *Writer) Size() int64 { return w.size }

// Close seals the last chunk, syncs the file and renames it into place. After a failed
// Write, Close discards the file and returns that failure.
func (w *Writer) Close() error {
	if w.err != nil {
		err := w.err
		w.Abort()
		return err
	}
	if err := w.seal(true); err != nil {
		w.Abort()
		return err
	}
	err := w.file.Sync()
	if cerr := w.file.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(w.tmp, w.path)
	}
	w.err = errClosed
	if err != nil {
		os.Remove(w.tmp)
		return fmt.Errorf("recording: %w", err)
	}
	return syncDir(filepath.Dir(w.path))
}

// Abort discards the recording. It does nothing after Close or a previous Abort, so it
// can be deferred.
func (w *Writer) Abort() {
	if w.err == errClosed {
		return
	}
	w.err = errClosed
	w.file.Close()
	os.Remove(w.tmp)
}

// syncDir makes a rename durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("recording: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("recording: sync %s: %w", dir, err)
	}
	return nil
}

// reader decrypts a recording chunk by chunk.
type reader struct {
	src     io.ReadCloser
	s       *chunkSealer
	buf     []byte // one sealed chunk plus one byte of look-ahead
	next    byte   // the look-ahead byte: first byte of the next chunk
	hasNext bool
	pt      []byte // authenticated plaintext not yet returned (aliases buf)
	index   uint32
	done    bool // the final chunk authenticated
	err     error
}

func newReader(src io.ReadCloser, h *header, dk *dataKey, accountID, recordingID string) (*reader, error) {
	if h.keyID != dk.id {
		return nil, ErrCorrupt
	}
	s, err := newChunkSealer(h, dk, accountID, recordingID)
	if err != nil {
		return nil, err
	}
	r := &reader{src: src, s: s, buf: make([]byte, sealedSize+1)}
	if err := r.chunk(); err != nil {
		return nil, err
	}
	return r, nil
}

// chunk reads and opens the next chunk. A chunk is the last one when the file ends
// within sealedSize bytes; one byte of look-ahead tells.
func (r *reader) chunk() error {
	have := 0
	if r.hasNext {
		r.buf[0] = r.next
		have = 1
	}
	n, err := io.ReadFull(r.src, r.buf[have:])
	n += have
	final := false
	switch {
	case err == nil:
		r.next, r.hasNext = r.buf[sealedSize], true
		n = sealedSize
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		final = true
	default:
		return fmt.Errorf("recording: %w", err)
	}
	if n < tagSize || (!final && r.index == math.MaxUint32) {
		return ErrCorrupt
	}
	r.s.at(r.index, final)
	pt, err := r.s.aead.Open(r.buf[:0], r.s.nonce[:], r.buf[:n], r.s.aad)
	if err != nil {
		return ErrCorrupt
	}
	r.pt = pt
	r.index++
	r.done = final
	return nil
}

func (r *reader) Read(p []byte) (int, error) {
	for len(r.pt) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.done {
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		r.err = r.chunk()
	}
	n := copy(p, r.pt)
	r.pt = r.pt[n:]
	return n, nil
}

// WriteTo lets io.Copy skip an intermediate buffer.
func (r *reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(r.pt) > 0 {
			n, err := w.Write(r.pt)
			total += int64(n)
			r.pt = r.pt[n:]
			if err != nil {
				return total, err
			}
			continue
		}
		if r.err != nil {
			return total, r.err
		}
		if r.done {
			return total, nil
		}
		r.err = r.chunk()
	}
}

func (r *reader) Close() error {
	r.pt = nil
	if r.err == nil {
		r.err = errors.New("recording: reader closed")
	}
	return r.src.Close()
}
