package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id cost parameters. They are written into every hash
// (PHC string format), so changing DefaultParams affects only new hashes;
// old ones keep verifying with their own parameters until NeedsRehash tells
// the caller to replace them at the next successful login.
type Params struct {
	Memory  uint32 // KiB of memory per hash
	Time    uint32 // passes over memory
	Threads uint8  // lanes (parallelism)
	SaltLen uint32 // bytes of random salt
	KeyLen  uint32 // bytes of derived key
}

// DefaultParams are the pinned production parameters. 64 MiB with p=2 suits
// the 2-core hosts Trunkline targets (RFC 9106's second profile uses 64 MiB
// too), and Time was picked by measuring single-core cost with
// go test ./identity -bench Hash -run '^$' -cpu 1 on the 2-core dev/CI
// machine ("Oxide Virtual Turin-like Processor", Go 1.26, linux/amd64;
// other builds were running, load average 2-4, so the fastest runs are the
// better estimate):
//
//	t=1:  42-44 ms/op
//	t=2:  84-92 ms/op   (BenchmarkHash: 83,672,945 ns/op best, ~95 ms median)
//	t=3: 135-260 ms/op
//
// t=2 sits in the middle of the 50-150 ms target: each guess costs an
// offline attacker 64 MiB x 2 passes, while a login waits under 0.1 s. t=3
// would touch 150 ms as soon as the host is busy. BenchmarkVerifyParallel
// with the default Hasher (2 concurrent) measured 75-120 ms/op with both
// cores (-cpu 2, contended), i.e. about 8-13 logins/s per host, and ~96 ms/op
// (~10 logins/s) on one core. Memory stays at 2 x 64 MiB whatever the burst,
// because the Hasher's semaphore, not the number of requests, bounds it.
var DefaultParams = Params{Memory: 64 * 1024, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}

// Bounds on parameters, both for Hashers and for hashes read back from
// storage. A stored hash is data, and a tampered or corrupt one must not be
// able to make Verify allocate gigabytes or spin for minutes.
const (
	argonMaxMemory  = 1 << 20 // KiB = 1 GiB
	argonMaxTime    = 20
	argonMaxThreads = 16
	argonMinSalt    = 8 // RFC 9106 minimum
	argonMaxSalt    = 64
	argonMinKey     = 16
	argonMaxKey     = 64
)

// Errors returned by Verify for a stored hash it cannot use. They are
// distinct from a false result (wrong passphrase) so a corrupt store shows up
// as an error rather than as users who mysteriously cannot log in.
var (
	ErrMalformedHash = errors.New("identity: malformed argon2id hash")
	ErrHashParams    = errors.New("identity: argon2id hash parameters out of bounds")
)

const phcPrefix = "$argon2id$"

// phcBase64 is unpadded standard base64 as in the PHC string format; Strict
// refuses non-zero trailing bits so every hash has exactly one encoding.
var phcBase64 = base64.RawStdEncoding.Strict()

// Hasher hashes and verifies passphrases with argon2id. It is safe for
// concurrent use. Each hash holds Memory KiB while it runs, so the Hasher
// bounds how many run at once: an unbounded burst of logins would otherwise
// exhaust memory (100 logins x 64 MiB = 6.4 GiB) long before CPU.
type Hasher struct {
	params Params
	sem    chan struct{}
	// dummy is a well-formed hash with the Hasher's params, verified by
	// VerifyDummy so unknown users cost the same as known ones.
	dummy string
}

// NewHasher returns a Hasher producing hashes with p. concurrent bounds how
// many hashes (or verifications) run at once, each using p.Memory KiB; <= 0
// means 2, one per core of the smallest supported host. It panics if p is
// outside the bounds Verify accepts, since such a Hasher would write hashes
// that it could not verify; the params are a programming constant, not input.
func NewHasher(p Params, concurrent int) *Hasher {
	if err := checkArgonParams(p); err != nil {
		panic(fmt.Sprintf("identity.NewHasher: %v", err))
	}
	if concurrent <= 0 {
		concurrent = 2
	}
	salt := make([]byte, p.SaltLen)
	key := make([]byte, p.KeyLen)
	rand.Read(salt)
	rand.Read(key)
	return &Hasher{
		params: p,
		sem:    make(chan struct{}, concurrent),
		dummy:  encodePHC(p, salt, key),
	}
}

// Params returns the parameters new hashes are made with.
func (h *Hasher) Params() Params { return h.params }

// Hash returns the PHC string for passphrase, e.g.
// "$argon2id$v=19$m=65536,t=2,p=2$<salt>$<key>" with unpadded base64 salt and
// key. The passphrase is NFKC-normalised first so that Verify matches it
// however it is typed. It waits for a free slot until ctx is done.
func (h *Hasher) Hash(ctx context.Context, passphrase string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	rand.Read(salt) // never fails since Go 1.24; it crashes the program instead
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(NormalizePassphrase(passphrase)), salt,
		h.params.Time, h.params.Memory, h.params.Threads, h.params.KeyLen)
	h.release()
	return encodePHC(h.params, salt, key), nil
}

// Verify reports whether passphrase matches encoded. It uses the parameters
// stored in encoded, so hashes made under older DefaultParams still verify,
// and compares keys in constant time. A malformed encoding, or one whose
// parameters are absurd (memory > 1 GiB, time > 20, threads > 16), is an
// error, never a panic and never a long computation. It waits for a free
// slot until ctx is done.
func (h *Hasher) Verify(ctx context.Context, encoded, passphrase string) (bool, error) {
	p, salt, key, err := decodePHC(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	got := argon2.IDKey([]byte(NormalizePassphrase(passphrase)), salt,
		p.Time, p.Memory, p.Threads, p.KeyLen)
	h.release()
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// VerifyDummy does the work of a Verify against a fixed hash with the
// Hasher's params and discards the result. Call it when the user does not
// exist, so the response time does not reveal which accounts exist.
func (h *Hasher) VerifyDummy(ctx context.Context, passphrase string) {
	_, _ = h.Verify(ctx, h.dummy, passphrase)
}

// NeedsRehash reports whether encoded was made with parameters other than
// the Hasher's (or cannot be parsed), so the caller should store a fresh
// Hash of the passphrase after a successful Verify.
func (h *Hasher) NeedsRehash(encoded string) bool {
	p, _, _, err := decodePHC(encoded)
	return err != nil || p != h.params
}

func (h *Hasher) acquire(ctx context.Context) error {
	// Checked first because select picks at random among ready cases: a
	// caller that already gave up must not start a 100 ms computation.
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.sem }

func encodePHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("%sv=%d$m=%d,t=%d,p=%d$%s$%s", phcPrefix, argon2.Version,
		p.Memory, p.Time, p.Threads, phcBase64.EncodeToString(salt), phcBase64.EncodeToString(key))
}

// phcMaxLen is far above any hash within bounds (~150 bytes); it stops a
// huge string from being split and base64-decoded at all.
const phcMaxLen = 512

func decodePHC(s string) (p Params, salt, key []byte, err error) {
	if len(s) > phcMaxLen {
		return p, nil, nil, fmt.Errorf("%w: %d bytes long", ErrMalformedHash, len(s))
	}
	rest, ok := strings.CutPrefix(s, phcPrefix)
	if !ok {
		return p, nil, nil, fmt.Errorf("%w: not an argon2id PHC string", ErrMalformedHash)
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 4 {
		return p, nil, nil, fmt.Errorf("%w: want 5 $-separated fields", ErrMalformedHash)
	}
	if parts[0] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrMalformedHash, parts[0])
	}
	kv := strings.Split(parts[1], ",")
	if len(kv) != 3 {
		return p, nil, nil, fmt.Errorf("%w: want m=,t=,p= parameters", ErrMalformedHash)
	}
	var vals [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return p, nil, nil, fmt.Errorf("%w: want parameter %s at position %d", ErrMalformedHash, name, i+1)
		}
		if vals[i], err = parsePHCDecimal(v); err != nil {
			return p, nil, nil, fmt.Errorf("%w: parameter %s%v", ErrMalformedHash, name, err)
		}
	}
	if vals[0] > argonMaxMemory || vals[1] > argonMaxTime || vals[2] > argonMaxThreads {
		return p, nil, nil, fmt.Errorf("%w: m=%d,t=%d,p=%d", ErrHashParams, vals[0], vals[1], vals[2])
	}
	if salt, err = phcBase64.DecodeString(parts[2]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt: %v", ErrMalformedHash, err)
	}
	if key, err = phcBase64.DecodeString(parts[3]); err != nil {
		return p, nil, nil, fmt.Errorf("%w: key: %v", ErrMalformedHash, err)
	}
	p = Params{
		Memory:  uint32(vals[0]),
		Time:    uint32(vals[1]),
		Threads: uint8(vals[2]),
		SaltLen: uint32(len(salt)),
		KeyLen:  uint32(len(key)),
	}
	if err := checkArgonParams(p); err != nil {
		return Params{}, nil, nil, err
	}
	return p, salt, key, nil
}

// parsePHCDecimal accepts only canonical unsigned decimals ("0" or no leading
// zero), so each parameter set has one spelling and NeedsRehash comparisons
// are about values, not formatting.
func parsePHCDecimal(s string) (uint64, error) {
	if s == "" || len(s) > 10 || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%q is not a canonical decimal", s)
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a canonical decimal", s)
		}
	}
	return strconv.ParseUint(s, 10, 32)
}

func checkArgonParams(p Params) error {
	switch {
	case p.Time < 1 || p.Time > argonMaxTime:
		return fmt.Errorf("%w: time %d not in 1..%d", ErrHashParams, p.Time, argonMaxTime)
	case p.Threads < 1 || p.Threads > argonMaxThreads:
		return fmt.Errorf("%w: threads %d not in 1..%d", ErrHashParams, p.Threads, argonMaxThreads)
	// argon2 needs 8 KiB per lane; x/crypto would silently raise a smaller
	// value, giving a key no other implementation reproduces.
	case p.Memory < 8*uint32(p.Threads) || p.Memory > argonMaxMemory:
		return fmt.Errorf("%w: memory %d KiB not in %d..%d", ErrHashParams, p.Memory, 8*uint32(p.Threads), argonMaxMemory)
	case p.SaltLen < argonMinSalt || p.SaltLen > argonMaxSalt:
		return fmt.Errorf("%w: salt length %d not in %d..%d", ErrHashParams, p.SaltLen, argonMinSalt, argonMaxSalt)
	case p.KeyLen < argonMinKey || p.KeyLen > argonMaxKey:
		return fmt.Errorf("%w: key length %d not in %d..%d", ErrHashParams, p.KeyLen, argonMinKey, argonMaxKey)
	}
	return nil
}
