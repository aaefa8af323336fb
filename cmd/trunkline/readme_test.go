package main

import (
	"os"
	"path"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeFindsTheBinary: the README's shell examples call `trunkline …`, and the
// quickstart (scripts/serve) leaves the binary where go build -o puts it. A new user must
// be told to put that directory on PATH before the first example, or the first
// `trunkline number add` is "command not found".
func TestReadmeFindsTheBinary(t *testing.T) {
	serve, err := os.ReadFile("../../scripts/serve")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`go build -o (\S+) \./cmd/trunkline`).FindSubmatch(serve)
	if m == nil {
		t.Fatal("scripts/serve does not build ./cmd/trunkline with -o")
	}
	bin := string(m[1])
	if path.Base(bin) != "trunkline" {
		t.Fatalf("scripts/serve builds %s, not a binary called trunkline", bin)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	export := `export PATH="$PWD/` + path.Dir(bin) + `:$PATH"`
	first := -1
	inSh := false
	for i, line := range strings.Split(string(readme), "\n") {
		switch {
		case strings.HasPrefix(line, "```sh"):
			inSh = true
		case strings.HasPrefix(line, "```"):
			inSh = false
		case inSh && strings.HasPrefix(line, export):
			if first >= 0 {
				t.Fatalf("README line %d puts %s on PATH only after the first `trunkline` command (line %d)", i+1, path.Dir(bin), first+1)
			}
			return
		case inSh && first < 0 && strings.HasPrefix(line, "trunkline "):
			first = i
		}
	}
	t.Fatalf("README never runs %s in a shell example, but its examples call `trunkline` (first at line %d) and scripts/serve leaves it at %s", export, first+1, bin)
}
