package pdu

import (
	"math/big"
	"strings"
)

// maxNumericID bounds the ids read as numbers; SMPP message ids have at
// most 64 characters, and the bound keeps big-number parsing cheap on
// hostile input.
const maxNumericID = 64

// MessageIDKey returns the one key under which the id an SMSC gave in submit_sm_resp
// is stored, to correlate the delivery receipts quoting it (MessageIDKeys).
//
// SMSCs often return the id in submit_sm_resp in one form and quote it in the receipt
// in another: hex in one, decimal in the other, with or without leading zeros, "0x" or
// case. The key is the trimmed, lower-cased id; an id made of hex digits (after an
// optional "0x") loses its "0x" and leading zeros, so it is the same digits whichever
// way the id is padded: "0A1B2C3D" → "a1b2c3d", "000123" → "123", "0x1F" → "1f".
func MessageIDKey(id string) string {
	s := strings.ToLower(strings.TrimSpace(strings.Trim(id, "\x00")))
	if h := strings.TrimPrefix(s, "0x"); h != "" && allIn(h, "0123456789abcdef") {
		if h = strings.TrimLeft(h, "0"); h == "" {
			return "0"
		}
		return h
	}
	return s
}

// MessageIDKeys returns the keys a receipt quoting id may find its submit under
// (MessageIDKey of the submit's id), best first: the id's own key, then, when the id
// reads as a number, the key of that number spelled in the other base: a decimal id
// read as hex digits ("169552957" → "a1b2c3d", for a submit id "0A1B2C3D") and a hex
// id read in decimal ("a1b2c3d" → "169552957"). A receipt and a submit correlate when
// the submit's one key is among them: the same number in either base, padded or not,
// or the same word.
//
// A digits-only id reads as decimal and as hex, so the keys of different messages
// can meet ("10" as a decimal number is hex "a", and a submit id "a" exists too). Look
// up within one carrier and prefer the first key when it matches.
func MessageIDKeys(id string) []string {
	k := MessageIDKey(id)
	if k == "" {
		return nil
	}
	keys := []string{k}
	if len(k) > maxNumericID {
		return keys
	}
	add := func(digits string, from, to int) {
		v, ok := new(big.Int).SetString(digits, from)
		if !ok {
			return
		}
		if other := v.Text(to); other != keys[0] {
			keys = append(keys, other)
		}
	}
	if allIn(k, "0123456789") {
		add(k, 10, 16) // a decimal receipt id for a hex submit id
	}
	if allIn(k, "0123456789abcdef") {
		add(k, 16, 10) // a hex receipt id for a decimal submit id
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
