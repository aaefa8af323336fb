package webhook

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"reflect"
	"testing"
)

// FuzzSignV3 feeds arbitrary methods, URIs, parameters, nonces, tokens and
// signature headers to the signing and validating functions: they must
// never panic, must accept what they signed (alone or among other
// signatures), must reject it under another nonce, and must not modify the
// caller's params. Seeds: testdata/fuzz/FuzzSignV3.
func FuzzSignV3(f *testing.F) {
	f.Add("POST", "https://example.com/answer/", "CallUUID=abc&From=14155550100", vecNonce, vecToken, "zAdThsRRXYdyDcKLOe/ZMW40oPUtT5wkKWA9ymRuTc4=")
	f.Fuzz(func(t *testing.T, method, uri, rawParams, nonce, token, header string) {
		params, _ := url.ParseQuery(rawParams) // keeps what parsed
		before := url.Values{}
		for k, v := range params {
			before[k] = append([]string{}, v...)
		}

		sig := SignV3(method, uri, params, nonce, token)
		if !ValidateV3(method, uri, nonce, token, sig, params) {
			t.Fatalf("own signature rejected")
		}
		if !ValidateV3(method, uri, nonce, token, header+","+sig, params) {
			t.Fatalf("own signature rejected among others")
		}
		if ValidateV3(method, uri, nonce+"x", token, sig, params) {
			t.Fatalf("signature accepted under another nonce")
		}
		_ = ValidateV3(method, uri, nonce, token, header, params)

		v2 := SignV2(uri, nonce, token)
		if !ValidateV2(uri, nonce, token, v2) {
			t.Fatalf("own V2 signature rejected")
		}
		_ = ValidateV2(uri, nonce, token, header)

		// The headers a callback carries (one buffer, one keyed HMAC per token)
		// validate like SignV3's and SignV2's signatures.
		h := http.Header{}
		signHeaders(h, method, uri, params, token, token+"-main")
		if !ValidateV3(method, uri, h.Get(HeaderNonceV3), token, h.Get(HeaderSignatureV3), params) ||
			!ValidateV3(method, uri, h.Get(HeaderNonceV3), token+"-main", h.Get(HeaderSignatureMaV3), params) {
			t.Fatalf("signHeaders' V3 signatures rejected")
		}
		if !ValidateV2(uri, h.Get(HeaderNonceV2), token, h.Get(HeaderSignatureV2)) ||
			!ValidateV2(uri, h.Get(HeaderNonceV2), token+"-main", h.Get(HeaderSignatureMaV2)) {
			t.Fatalf("signHeaders' V2 signatures rejected")
		}

		if !reflect.DeepEqual(params, before) {
			t.Fatalf("params modified: %v -> %v", before, params)
		}
	})
}

// FuzzCheckURL: the URL guard never panics, and any URL it accepts has an
// http(s) scheme, no userinfo, and a host that is either a permitted IP
// literal or a name that does not end in a number. Seeds:
// testdata/fuzz/FuzzCheckURL.
func FuzzCheckURL(f *testing.F) {
	f.Add("http://127.0.0.1:8080/cb?x=1")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := checkURL(raw, nil, false)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) && !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q", raw)
		}
		if addr, err := netip.ParseAddr(u.Hostname()); err == nil {
			if CheckAddr(addr, nil) != nil {
				t.Fatalf("accepted forbidden literal %q", raw)
			}
		} else if endsInNumber(u.Hostname()) {
			t.Fatalf("accepted numeric host %q", raw)
		}
	})
}

// FuzzEncodeForm holds encodeForm to url.Values.Encode, byte for byte: keys and values
// of any bytes, a key with several values, a key with none. Seeds:
// testdata/fuzz/FuzzEncodeForm.
func FuzzEncodeForm(f *testing.F) {
	f.Add("MessageUUID", "1c1b5fd6-4f0c-11ee-a4d2-0242ac110002", "To", "+1 (415) 555-0100", "ü&=%+~")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, v3 string) {
		v := url.Values{k1: {v1}}
		v[k2] = append(v[k2], v2, v3)
		v[k1+k2+"\x00"] = nil
		if got, want := encodeForm(v), v.Encode(); got != want {
			t.Fatalf("encodeForm %q, url.Values.Encode %q", got, want)
		}
	})
}
