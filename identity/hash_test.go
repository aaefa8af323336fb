package identity

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

// testParams keep unit tests fast; DefaultParams are exercised by the
// benchmarks and one smoke test.
var testParams = Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(testParams, 0)
	const pass = "correct horse battery staple"
	enc, err := h.Hash(ctx, pass)
	if err != nil {
		t.Fatal(err)
	}
	form := regexp.MustCompile(`^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !form.MatchString(enc) {
		t.Fatalf("Hash = %q, not a PHC argon2id string", enc)
	}
	if enc2, _ := h.Hash(ctx, pass); enc2 == enc {
		t.Error("two hashes of one passphrase are equal: salt not random")
	}

	tests := []struct {
		name string
		enc  string // "" means enc above
		pass string
		want bool
	}{
		{"right passphrase", "", pass, true},
		{"wrong passphrase", "", "correct horse battery stapler", false},
		{"case matters", "", "Correct horse battery staple", false},
		{"empty passphrase", "", "", false},
		{"fullwidth form is NFKC-equivalent", "", "ｃｏｒｒｅｃｔ　ｈｏｒｓｅ　ｂａｔｔｅｒｙ　ｓｔａｐｌｅ", true},
		{"decomposed accent verifies composed hash", mustHash(t, h, "café au lait forever"), "cafe\u0301 au lait forever", true},
		{"composed accent verifies decomposed hash", mustHash(t, h, "cafe\u0301 au lait forever"), "café au lait forever", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.enc
			if e == "" {
				e = enc
			}
			ok, err := h.Verify(ctx, e, tc.pass)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tc.want {
				t.Errorf("Verify = %v, want %v", ok, tc.want)
			}
		})
	}
}

func mustHash(t *testing.T, h *Hasher, p string) string {
	t.Helper()
	enc, err := h.Hash(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func TestVerifyOldParamsAndNeedsRehash(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(testParams, 1)
	cur := NewHasher(Params{Memory: 128, Time: 2, Threads: 2, SaltLen: 16, KeyLen: 32}, 1)
	enc := mustHash(t, old, "mauve kettle drums at dawn")

	if ok, err := cur.Verify(ctx, enc, "mauve kettle drums at dawn"); !ok || err != nil {
		t.Errorf("hash made with older params: Verify = %v, %v; want true", ok, err)
	}
	tests := []struct {
		name string
		h    *Hasher
		enc  string
		want bool
	}{
		{"same params", old, enc, false},
		{"other params", cur, enc, true},
		{"own hash", cur, mustHash(t, cur, "x"), false},
		{"malformed", cur, "$argon2id$garbage", true},
		{"empty", cur, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.NeedsRehash(tc.enc); got != tc.want {
				t.Errorf("NeedsRehash = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	const salt = "c2FsdHNhbHRzYWx0c2FsdA"                     // 16 bytes
	const key = "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U" // 32 bytes
	good := "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key
	tests := []struct {
		name string
		enc  string
		want error
	}{
		{"empty", "", ErrMalformedHash},
		{"prefix only", "$argon2id$", ErrMalformedHash},
		{"argon2i", strings.Replace(good, "argon2id", "argon2i", 1), ErrMalformedHash},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy", ErrMalformedHash},
		{"no leading dollar", good[1:], ErrMalformedHash},
		{"old version", strings.Replace(good, "v=19", "v=16", 1), ErrMalformedHash},
		{"missing version", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"missing key", "$argon2id$v=19$m=64,t=1,p=1$" + salt, ErrMalformedHash},
		{"extra field", good + "$AAAA", ErrMalformedHash},
		{"params reordered", "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"param missing", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key, ErrMalformedHash},
		{"param not a number", "$argon2id$v=19$m=sixty,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"param signed", "$argon2id$v=19$m=+64,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"param negative", "$argon2id$v=19$m=64,t=-1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"param leading zero", "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"param overflows uint32", "$argon2id$v=19$m=4294967296,t=1,p=1$" + salt + "$" + key, ErrMalformedHash},
		{"huge m", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key, ErrHashParams},
		{"m just over 1 GiB", "$argon2id$v=19$m=1048577,t=1,p=1$" + salt + "$" + key, ErrHashParams},
		{"m below 8 KiB per lane", "$argon2id$v=19$m=15,t=1,p=2$" + salt + "$" + key, ErrHashParams},
		{"t zero", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key, ErrHashParams},
		{"t 21", "$argon2id$v=19$m=64,t=21,p=1$" + salt + "$" + key, ErrHashParams},
		{"p zero", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key, ErrHashParams},
		{"p 17", "$argon2id$v=19$m=1024,t=1,p=17$" + salt + "$" + key, ErrHashParams},
		{"p 256 would wrap uint8", "$argon2id$v=19$m=4096,t=1,p=256$" + salt + "$" + key, ErrHashParams},
		{"bad base64 salt", "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key, ErrMalformedHash},
		{"padded salt", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key, ErrMalformedHash},
		{"url-safe base64 key", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("_-", 21) + "A", ErrMalformedHash},
		{"non-canonical trailing bits", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:21] + "B$" + key, ErrMalformedHash},
		{"salt too short", "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + key, ErrHashParams},
		{"key too short", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$a2V5", ErrHashParams},
		{"empty salt and key", "$argon2id$v=19$m=64,t=1,p=1$$", ErrHashParams},
		{"huge string", good + strings.Repeat("A", 1<<20), ErrMalformedHash},
		{"non-ASCII", strings.Replace(good, "m=64", "m=６４", 1), ErrMalformedHash},
		{"NUL byte", good[:20] + "\x00" + good[21:], ErrMalformedHash},
	}
	h := NewHasher(testParams, 1)
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Verify(ctx, tc.enc, "anything")
			if ok {
				t.Error("malformed hash verified")
			}
			if !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if !h.NeedsRehash(tc.enc) {
				t.Error("NeedsRehash = false for an unusable hash")
			}
		})
	}

	// The control: the same fields, well formed, are accepted (and do not
	// match "anything").
	if ok, err := h.Verify(ctx, good, "anything"); ok || err != nil {
		t.Errorf("well-formed control: Verify = %v, %v; want false, nil", ok, err)
	}
	// The upper bounds themselves are allowed (parsed only: 1 GiB x 20 passes
	// is not something to run in a unit test).
	if _, _, _, err := decodePHC("$argon2id$v=19$m=1048576,t=20,p=16$" + salt + "$" + key); err != nil {
		t.Errorf("params at the bounds refused: %v", err)
	}
}

func TestHasherContext(t *testing.T) {
	h := NewHasher(testParams, 1)
	enc := mustHash(t, h, "mauve kettle drums at dawn")

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.Hash(canceled, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with canceled ctx: err = %v", err)
	}
	if _, err := h.Verify(canceled, enc, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("Verify with canceled ctx: err = %v", err)
	}

	// Occupy the only slot: callers wait, and give up when ctx does.
	h.sem <- struct{}{}
	defer func() { <-h.sem }()
	tests := []struct {
		name string
		call func(ctx context.Context) error
	}{
		{"Hash", func(ctx context.Context) error { _, err := h.Hash(ctx, "x"); return err }},
		{"Verify", func(ctx context.Context) error { _, err := h.Verify(ctx, enc, "x"); return err }},
		{"VerifyDummy", func(ctx context.Context) error { h.VerifyDummy(ctx, "x"); return ctx.Err() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err = %v, want DeadlineExceeded", err)
			}
			if d := time.Since(start); d < 15*time.Millisecond {
				t.Errorf("returned after %v without waiting for the slot", d)
			}
		})
	}
}

func TestVerifyDummy(t *testing.T) {
	h := NewHasher(testParams, 1)
	// The dummy hash must have exactly the Hasher's params, or an unknown
	// user would cost a different amount of work than a known one.
	if h.NeedsRehash(h.dummy) {
		t.Fatalf("dummy hash %q does not match the Hasher's params", h.dummy)
	}
	if ok, err := h.Verify(context.Background(), h.dummy, ""); ok || err != nil {
		t.Errorf("Verify(dummy) = %v, %v; want false, nil", ok, err)
	}
	h.VerifyDummy(context.Background(), "correct horse battery staple")
}

func TestNewHasher(t *testing.T) {
	if got := cap(NewHasher(testParams, 0).sem); got != 2 {
		t.Errorf("concurrent 0 gives %d slots, want 2", got)
	}
	if got := cap(NewHasher(testParams, -1).sem); got != 2 {
		t.Errorf("concurrent -1 gives %d slots, want 2", got)
	}
	if got := cap(NewHasher(testParams, 5).sem); got != 5 {
		t.Errorf("concurrent 5 gives %d slots, want 5", got)
	}
	if NewHasher(DefaultParams, 0).Params() != DefaultParams {
		t.Error("Params() differs from the params given")
	}

	bad := []struct {
		name string
		p    Params
	}{
		{"zero", Params{}},
		{"time 0", Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"memory over 1 GiB", Params{Memory: 1<<20 + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"short salt", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32}},
		{"short key", Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 8}},
		{"threads 17", Params{Memory: 1024, Time: 1, Threads: 17, SaltLen: 16, KeyLen: 32}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("NewHasher accepted params Verify would refuse")
				}
			}()
			NewHasher(tc.p, 1)
		})
	}
}

// TestDefaultParams runs one real hash so the pinned production params are
// known to work and produce the documented PHC prefix.
func TestDefaultParams(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB hash")
	}
	h := NewHasher(DefaultParams, 0)
	enc := mustHash(t, h, "correct horse battery staple")
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=65536,t=2,p=2$") {
		t.Errorf("Hash = %q", enc)
	}
	if ok, err := h.Verify(context.Background(), enc, "correct horse battery staple"); !ok || err != nil {
		t.Errorf("Verify = %v, %v", ok, err)
	}
}

// FuzzVerifyEncoded feeds arbitrary stored hashes to Verify: it must never
// panic, never report a match together with an error, and never accept a
// hash outside the parameter bounds.
func FuzzVerifyEncoded(f *testing.F) {
	h := NewHasher(testParams, 2)
	f.Add(mustHashF(f, h, "correct horse battery staple"), "correct horse battery staple")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U", "x")
	f.Fuzz(func(t *testing.T, enc, pass string) {
		p, _, _, err := decodePHC(enc)
		if err == nil && checkArgonParams(p) != nil {
			t.Fatalf("decodePHC accepted out-of-bounds params %+v", p)
		}
		rehash := h.NeedsRehash(enc)
		if err != nil && !rehash {
			t.Fatal("NeedsRehash false for an undecodable hash")
		}
		// Keep each iteration cheap: the fuzzer may find valid strings with
		// up to 1 GiB and 20 passes, which are legal but not worth computing.
		if err == nil && (p.Memory > 1024 || p.Time > 2) {
			return
		}
		ok, verr := h.Verify(context.Background(), enc, pass)
		if ok && verr != nil {
			t.Fatalf("Verify = true with error %v", verr)
		}
		if (verr == nil) != (err == nil) {
			t.Fatalf("Verify err %v but decode err %v", verr, err)
		}
	})
}

func mustHashF(f *testing.F, h *Hasher, p string) string {
	f.Helper()
	enc, err := h.Hash(context.Background(), p)
	if err != nil {
		f.Fatal(err)
	}
	return enc
}

// BenchmarkHash measures one hash at DefaultParams; run with -cpu 1 for the
// single-core cost that DefaultParams.Time was chosen by.
func BenchmarkHash(b *testing.B) {
	h := NewHasher(DefaultParams, 0)
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Hash(ctx, "correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyParallel measures login throughput: many goroutines verify
// through the default Hasher (2 concurrent), as the login handler would.
// logins/s = 1e9 / ns/op, also reported directly.
func BenchmarkVerifyParallel(b *testing.B) {
	h := NewHasher(DefaultParams, 2)
	ctx := context.Background()
	enc, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := h.Verify(ctx, enc, "correct horse battery staple"); !ok || err != nil {
				b.Errorf("Verify = %v, %v", ok, err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
}
