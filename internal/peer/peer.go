// Package peer finds the real peers tests talk to — node with the npm packages pinned in
// test/node (Plivo's SDK, node-smpp), Debian programs (espeak-ng, sox, lame, SIPp, baresip) — and
// decides what a missing one means: a skip on a developer's machine, a failure when
// TRUNKLINE_REQUIRE_PEERS is set (scripts/test sets it, since it installs them all).
package peer

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequireEnv is the environment variable that turns a missing peer into a failure.
const RequireEnv = "TRUNKLINE_REQUIRE_PEERS"

// Missing skips t, or fails it when RequireEnv is set, saying what is missing.
func Missing(t testing.TB, what string) {
	t.Helper()
	if v := os.Getenv(RequireEnv); v != "" && v != "0" {
		t.Fatalf("%s=%s but %s", RequireEnv, v, what)
	}
	t.Skipf("skipped: %s (set %s=1 to make this a failure)", what, RequireEnv)
}

// Node returns the node binary and the test/node directory, checking that each npm
// package in pkgs is installed there.
func Node(t testing.TB, pkgs ...string) (node, dir string) {
	t.Helper()
	dir = filepath.Join(repoRoot(t), "test", "node")
	node, err := exec.LookPath("node")
	if err != nil {
		Missing(t, "node is not on PATH")
	}
	for _, p := range pkgs {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", p, "package.json")); err != nil {
			Missing(t, "the "+p+" npm package is not installed (run `npm ci` in test/node, or scripts/test)")
		}
	}
	return node, dir
}

// Program returns the path of a program on PATH.
func Program(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name+" is not installed")
	}
	return p
}

// repoRoot walks up from the test's working directory (its package) to go.mod.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}
