// Command mklist builds identity/commonpasswords.txt.gz, the blocklist of
// common and breached passwords that identity.CheckPassphrase refuses.
//
// The list is generated rather than hand-edited so that it can be rebuilt
// from the same public sources and checked for drift. Run, from the module
// root:
//
//	cd /tmp && npm pack zxcvbn@4.4.2             # -> zxcvbn-4.4.2.tgz
//	cd /tmp && apt-get download john-data && dpkg-deb -x john-data_*.deb john-data
//	go run ./identity/internal/mklist \
//	    -zxcvbn /tmp/zxcvbn-4.4.2.tgz \
//	    -john /tmp/john-data/usr/share/john/password.lst \
//	    -out identity/commonpasswords.txt.gz
//
// Sources and their licenses:
//
//   - zxcvbn 4.4.2 (npm package "zxcvbn", lib/frequency_lists.js, the
//     "passwords" list: 30,000 passwords ranked by frequency, compiled by Dan
//     Wheeler / Dropbox from the Xato 10M leaked-password corpus).
//     Copyright (c) 2012-2016 Dan Wheeler and Dropbox, Inc. MIT license.
//   - John the Ripper's password.lst as shipped by Debian's john-data
//     1.9.0-2 (/usr/share/john/password.lst, 3,546 entries from 1990s Unix
//     systems and the 2006-2010 website breaches). Its header says: "compiled
//     by Solar Designer of Openwall Project in 1996 through 2011. It is
//     assumed to be in the public domain."
//
// Both lists are mostly entries shorter than identity.MinPassphrase, which the
// length rule refuses on its own; they are kept because the check also looks
// up the passphrase with its whitespace removed ("pass word 1234 5678"), and
// that form can be short. What the sources lack are the long passwords people
// make from short ones to satisfy a length rule, so mklist derives those from
// the most frequent entries (see derive): repetitions ("passwordpassword"),
// digit-run suffixes ("iloveyou12345678"), pairs of top entries
// ("qwertypassword1"), leet-spelled repetitions, and keyboard, digit and
// alphabet walks ("qwertyuiopasdfgh", "123456789012345").
//
// Every entry is NFKC-normalised and lower-cased, exactly as CheckPassphrase
// treats a passphrase, then deduplicated and sorted bytewise (so the loader
// could binary-search it as is). The output is gzip with an empty header
// (no name, no mtime), so rebuilding from the same sources gives the same bytes.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// minLong mirrors identity.MinPassphrase. It is duplicated rather than
// imported so the generator does not depend on the package it feeds.
const minLong = 15

// maxDerived caps derived entries: past 32 runes, a repetition is not a
// password anyone types, and the list should stay small.
const maxDerived = 32

func main() {
	zx := flag.String("zxcvbn", "", "zxcvbn npm tarball (.tgz) or its lib/frequency_lists.js")
	john := flag.String("john", "", "John the Ripper password.lst")
	out := flag.String("out", "identity/commonpasswords.txt.gz", "output file")
	topN := flag.Int("top", 300, "how many of the most frequent entries seed the derived long ones")
	flag.Parse()
	if *zx == "" || *john == "" {
		flag.Usage()
		os.Exit(2)
	}

	zxList, err := readZxcvbn(*zx)
	if err != nil {
		log.Fatalf("zxcvbn: %v", err)
	}
	johnList, err := readJohn(*john)
	if err != nil {
		log.Fatalf("john: %v", err)
	}
	// Sanity floors: a silently truncated source would ship a weak list.
	if len(zxList) < 29000 {
		log.Fatalf("zxcvbn: only %d passwords read, expected ~30000", len(zxList))
	}
	if len(johnList) < 3000 {
		log.Fatalf("john: only %d passwords read, expected ~3546", len(johnList))
	}

	// Seeds for derivation, most frequent first: zxcvbn is ranked by
	// frequency; john's list is too, so its head adds the 1990s classics.
	var seeds []string
	seen := map[string]bool{}
	addSeed := func(s string) {
		s = canon(s)
		if s != "" && !seen[s] {
			seen[s] = true
			seeds = append(seeds, s)
		}
	}
	for _, s := range head(zxList, *topN) {
		addSeed(s)
	}
	for _, s := range head(johnList, *topN/3) {
		addSeed(s)
	}

	set := map[string]struct{}{}
	for _, l := range [][]string{zxList, johnList} {
		for _, s := range l {
			if c := canon(s); c != "" {
				set[c] = struct{}{}
			}
		}
	}
	nBefore := len(set)
	for _, s := range derive(seeds) {
		set[s] = struct{}{}
	}

	entries := make([]string, 0, len(set))
	for s := range set {
		entries = append(entries, s)
	}
	slices.Sort(entries)

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range entries {
		fmt.Fprintln(zw, s)
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, buf.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
	var long int
	for _, s := range entries {
		if utf8.RuneCountInString(s) >= minLong {
			long++
		}
	}
	log.Printf("zxcvbn %d + john %d source entries -> %d unique; +%d derived; %d total (%d of >= %d runes); %s %d bytes",
		len(zxList), len(johnList), nBefore, len(entries)-nBefore, len(entries), long, minLong, *out, buf.Len())
}

// canon applies the same normalisation as identity.CheckPassphrase so that
// lookups compare like with like.
func canon(s string) string {
	s = strings.TrimSpace(strings.TrimSuffix(s, "\r"))
	if !utf8.ValidString(s) || strings.ContainsAny(s, "\n\x00") {
		return ""
	}
	return strings.ToLower(norm.NFKC.String(s))
}

func head(l []string, n int) []string {
	if n > len(l) {
		n = len(l)
	}
	return l[:n]
}

// readZxcvbn extracts the "passwords" list from frequency_lists.js, either
// directly or from inside the npm tarball.
func readZxcvbn(path string) ([]string, error) {
	var js []byte
	if strings.HasSuffix(path, ".tgz") || strings.HasSuffix(path, ".tar.gz") {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		gz, err := gzip.NewReader(f)
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(gz)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil, errors.New("lib/frequency_lists.js not found in tarball")
			}
			if err != nil {
				return nil, err
			}
			if h.Name == "package/lib/frequency_lists.js" {
				if js, err = io.ReadAll(tr); err != nil {
					return nil, err
				}
				break
			}
		}
	} else {
		var err error
		if js, err = os.ReadFile(path); err != nil {
			return nil, err
		}
	}
	// The generated CoffeeScript reads:  passwords: "123456,password,...".split(",")
	const marker = `passwords: "`
	i := bytes.Index(js, []byte(marker))
	if i < 0 {
		return nil, errors.New(`no 'passwords: "' in frequency_lists.js`)
	}
	rest := js[i+len(marker):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil, errors.New("unterminated passwords string")
	}
	return strings.Split(string(rest[:j]), ","), nil
}

// readJohn reads password.lst, skipping its "#!comment:" header lines.
func readJohn(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var l []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#!comment:") || line == "" {
			continue
		}
		l = append(l, line)
	}
	return l, sc.Err()
}

// derive generates the long (>= minLong runes) variants of common passwords
// that people produce when a site demands length but not randomness.
func derive(seeds []string) []string {
	var out []string
	add := func(s string) {
		n := utf8.RuneCountInString(s)
		// Entries with fewer than 4 distinct characters are refused by
		// CheckPassphrase before the lookup, so listing them is dead weight.
		if n >= minLong && n <= maxDerived && distinct(s) >= 4 {
			out = append(out, s)
		}
	}

	// Repetition: "passwordpassword", "qwertyqwertyqwerty", "abc123abc123abc123".
	for _, w := range seeds {
		for k := 2; utf8.RuneCountInString(w)*k <= maxDerived; k++ {
			add(strings.Repeat(w, k))
		}
	}

	// Leet-spelled repetitions: "p@ssw0rdp@ssw0rd", "p@$$w0rdp@$$w0rd".
	leets := []*strings.Replacer{
		strings.NewReplacer("a", "@", "o", "0", "e", "3", "i", "1"),
		strings.NewReplacer("a", "@", "o", "0", "e", "3", "i", "1", "s", "$"),
	}
	for _, w := range head(seeds, 100) {
		for _, leet := range leets {
			if l := leet.Replace(w); l != w {
				for k := 2; utf8.RuneCountInString(l)*k <= maxDerived; k++ {
					add(strings.Repeat(l, k))
				}
			}
		}
	}

	// Digit-run and other habitual suffixes: "iloveyou1234567", "password123456789".
	suffixes := []string{"!", "1!", "123!", "69", "007", "2020", "2021", "2022", "2023", "2024", "2025", "2026"}
	const digits = "1234567890"
	for n := 1; n <= len(digits); n++ {
		suffixes = append(suffixes, digits[:n])
	}
	suffixes = append(suffixes, "987654321", "0987654321", "123123", "123321", "111111", "000000")
	for _, w := range seeds {
		for _, s := range suffixes {
			add(w + s)
			add(s + w)
		}
	}

	// Pairs of the very top entries: "qwertypassword1", "iloveyoumonkey12".
	top := head(seeds, 60)
	for _, a := range top {
		for _, b := range top {
			if a != b {
				add(a + b)
			}
		}
	}

	// Keyboard, digit and alphabet walks, forwards and backwards, cycled and
	// cut at every length from minLong to maxDerived: "qwertyuiopasdfgh",
	// "123456789012345", "1qaz2wsx3edc4rfv", "abcdefghijklmnop".
	walks := []string{
		"1234567890", "0123456789", "1234567890-=",
		"qwertyuiop", "asdfghjkl", "zxcvbnm", "qwertzuiop", "azertyuiop",
		"qwertyuiopasdfghjklzxcvbnm", "qwertyuiop[]asdfghjkl;'zxcvbnm,./",
		"1234567890qwertyuiopasdfghjklzxcvbnm", "1234567890qwertyuiop",
		"1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/", "1qaz2wsx3edc4rfv5tgb6yhn7ujm",
		"qazwsxedcrfvtgbyhnujmikolp", "zaq1xsw2cde3vfr4bgt5nhy6mju7",
		"zaq12wsxcde34rfvbgt56yhnmju78ik,.lo90p;/", "1qazxsw23edcvfr45tgbnhy6",
		"1q2w3e4r5t6y7u8i9o0p", "q1w2e3r4t5y6u7i8o9p0", "1a2s3d4f5g6h7j8k9l",
		"qweasdzxc", "qweasd", "1qaz2wsx", "1234qwer", "1234qwerasdfzxcv",
		"qwerasdfzxcv", "!@#$%^&*()", "1!2@3#4$5%6^7&8*9(0)", "1234567890!@#$%^&*()",
		"147258369", "741852963", "159753", "123654789", "789456123", "963852741",
		"abcdefghijklmnopqrstuvwxyz", "abc123", "a1b2c3d4e5f6g7h8i9j0",
		"123abc", "asdfasdf", "qwerty123", "123qwe", "1q2w3e", "qwe123",
	}
	for _, w := range walks {
		for _, v := range []string{w, reverse(w)} {
			cyc := v
			for utf8.RuneCountInString(cyc) < maxDerived {
				cyc += v
			}
			r := []rune(cyc)
			for n := minLong; n <= maxDerived; n++ {
				add(string(r[:n]))
			}
		}
	}
	// Every rotation of the digit cycle: "234567890123456", "890123456789012".
	for i := range len(digits) {
		rot := digits[i:] + digits[:i]
		for _, v := range []string{rot, reverse(rot)} {
			cyc := strings.Repeat(v, 4)
			for n := minLong; n <= maxDerived; n++ {
				add(cyc[:n])
			}
		}
	}
	// Walks followed by digit runs or by the top seeds: "qwertyuiop12345",
	// "asdfghjklpassword".
	for _, w := range walks {
		for _, s := range suffixes {
			add(w + s)
			add(s + w)
		}
		for _, s := range head(seeds, 30) {
			add(w + s)
			add(s + w)
		}
	}
	return out
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

func distinct(s string) int {
	m := map[rune]bool{}
	for _, r := range s {
		m[r] = true
	}
	return len(m)
}
