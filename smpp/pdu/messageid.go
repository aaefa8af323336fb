package pdu

import (
	"math/big"
	"strings"
)

// maxNumericID bounds the ids read as numbers; SMPP message ids have at
// most 64 characters, and the bound keeps big-number parsing cheap on
// hostile input.
const maxNumericID = 64

// MessageIDKeys returns the keys under which a message id should be
// stored and looked up to correlate a delivery receipt with its submit.
//
// SMSCs often return the id in submit_sm_resp in one form and quote it in
// the receipt in another: hex in one, decimal in the other, with or
// without leading zeros or case. MessageIDKeys returns the trimmed,
// lower-cased id (prefixed "s:") and, for each way the id can be read as
// a number, that number in decimal (prefixed "n:"). Two spellings of the
// same number share an "n:" key: "0A1B2C3D" and "169552957" share
// "n:169552957"; "000123" and "123" share "n:123".
//
// A digits-only id is read both as decimal and as hex, so ids of
// different messages can share a key ("123" read as hex is 291). Look up
// within one carrier and prefer the "s:" key when it matches.
func MessageIDKeys(id string) []string {
	s := strings.ToLower(strings.TrimSpace(strings.Trim(id, "\x00")))
	if s == "" {
		return nil
	}
	keys := []string{"s:" + s}
	if len(s) > maxNumericID {
		return keys
	}
	add := func(digits string, base int) {
		v, ok := new(big.Int).SetString(digits, base)
		if !ok {
			return
		}
		k := "n:" + v.String()
		for _, have := range keys {
			if have == k {
				return
			}
		}
		keys = append(keys, k)
	}
	if allIn(s, "0123456789") {
		add(s, 10)
	}
	hexDigits := strings.TrimPrefix(s, "0x")
	if hexDigits != "" && allIn(hexDigits, "0123456789abcdef") {
		add(hexDigits, 16)
	}
	return keys
}

func allIn(s, set string) bool {
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(set, s[i]) < 0 {
			return false
		}
	}
	return true
}
