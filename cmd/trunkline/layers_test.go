package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestEdgesDoNotLinkStore keeps the storage backend behind the core's interfaces: the
// front ends, the message workers and voice reach the database only through interfaces,
// so none of them may link package store, directly or through what they import (package
// audit once did, for its storage records).
func TestEdgesDoNotLinkStore(t *testing.T) {
	const mod = "github.com/trunkline/trunkline/"
	for _, pkg := range []string{"api", "console", "message", "voice", "audit"} {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 10 || deps[len(deps)-1] != mod+pkg {
			t.Fatalf("go list -deps %s gave %d packages, not its dependencies:\n%s", pkg, len(deps), out)
		}
		for _, d := range deps {
			if d == mod+"store" {
				t.Errorf("%s links %s; it must depend on the core's interfaces instead", pkg, d)
			}
		}
	}
}
