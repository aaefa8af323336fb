package audit

import (
	"context"
	"strings"
	"testing"
	"unicode"
)

// TestControlCharactersEscaped: client text in any field (a failed login's path, a user
// agent) cannot put a raw line break, terminal escape or bidi override into an entry;
// the escaped form is what is stored, hashed and verified, on every store.
func TestControlCharactersEscaped(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		e := sample(0)
		e.Source = "10.0.0.1\r\nauth.ok"
		e.Actor = "console:\x1b[2Jx"
		e.Detail = map[string]string{"path": "/a\nb\tc\u0085d\u2028e\u202ef\x7f", "k\ney": "v"}
		if _, err := f.log.Append(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		got, _, err := f.log.List(context.Background(), Filter{})
		if err != nil || len(got) != 1 {
			t.Fatalf("list: %v %v", got, err)
		}
		g := got[0]
		if g.Source != `10.0.0.1\r\nauth.ok` || g.Actor != `console:\x1b[2Jx` ||
			g.Detail["path"] != `/a\nb\tc\u0085d\u2028e\u202ef\x7f` || g.Detail[`k\ney`] != "v" {
			t.Fatalf("entry %+v", g)
		}
		for _, s := range []string{g.Source, g.Actor, g.Detail["path"]} {
			if strings.IndexFunc(s, unicode.IsControl) >= 0 {
				t.Fatalf("raw control character left in %q", s)
			}
		}
		if r := f.verify(t); !r.OK {
			t.Fatalf("verify: %+v", r)
		}
	})
}
