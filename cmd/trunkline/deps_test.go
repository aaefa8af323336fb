package main

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// testOnly matches the packages that exist for tests: the testing package itself, and
// ours that drive real peers (SIPp, Chromium, RTP observers) or share test suites
// (store/storetest, audio's audiotest). None of them may be linked into trunkline.
var testOnly = regexp.MustCompile(`^testing(/|$)|^github\.com/trunkline/trunkline/(.*/)?(internal/(peer|browser|rtpobs)|[a-z]*test)$`)

// TestBinaryLinksNoTestCode lists what the trunkline binary links and fails if test code
// is among it: a test helper in a non-test file of a production package drags testing
// (and its flags) into the binary.
func TestBinaryLinksNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !strings.Contains(string(out), "github.com/trunkline/trunkline/store\n") {
		t.Fatalf("go list -deps gave %d packages, not the binary's dependencies:\n%s", len(deps), out)
	}
	for _, p := range deps {
		if testOnly.MatchString(p) {
			t.Errorf("trunkline links %s; test code belongs in _test.go files or a package only tests import", p)
		}
	}
}
