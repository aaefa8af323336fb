package webhook

import (
	"net/url"
	"reflect"
	"testing"
)

// The vectors of shared/reference/plivo-api.md §2, computed with Plivo's
// official Node SDK.
const (
	vecToken = "MY_AUTH_TOKEN"
	vecNonce = "12345678901234567890"
)

func TestSignV3Vectors(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		uri       string
		params    url.Values
		canonical string // what is signed, nonce included
		want      string
	}{
		{
			name:   "POST with params, no query",
			method: "POST",
			uri:    "https://example.com/answer/",
			params: url.Values{
				"CallUUID":  {"abc"},
				"From":      {"14155550100"},
				"To":        {"14155550101"},
				"Direction": {"inbound"},
			},
			canonical: "https://example.com/answer/?CallUUIDabcDirectioninboundFrom14155550100To14155550101.12345678901234567890",
			want:      "zAdThsRRXYdyDcKLOe/ZMW40oPUtT5wkKWA9ymRuTc4=",
		},
		{
			name:      "POST with query and params",
			method:    "POST",
			uri:       "https://example.com/answer?b=2&a=1",
			params:    url.Values{"Digits": {"12"}},
			canonical: "https://example.com/answer?a=1&b=2.Digits12.12345678901234567890",
			want:      "AwovkQPEGhGIdFUw1SvOaBwJrsde3uJGgL6IQ1Gd8WE=",
		},
		{
			name:      "GET merges params into query, values decoded",
			method:    "GET",
			uri:       "https://example.com/answer?z=1",
			params:    url.Values{"CallUUID": {"abc"}, "a": {"x y"}},
			canonical: "https://example.com/answer?CallUUID=abc&a=x y&z=1.12345678901234567890",
			want:      "oSlS5PbSuxM2HQ7PK62ocrvwL+RGlCLMnbN3qHb9pYY=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canonicalV3(tt.method, tt.uri, tt.params) + "." + vecNonce; got != tt.canonical {
				t.Errorf("canonical string\n got %q\nwant %q", got, tt.canonical)
			}
			if got := SignV3(tt.method, tt.uri, tt.params, vecNonce, vecToken); got != tt.want {
				t.Errorf("SignV3 = %q, want %q", got, tt.want)
			}
			if !ValidateV3(tt.method, tt.uri, vecNonce, vecToken, tt.want, tt.params) {
				t.Errorf("ValidateV3 rejected the reference signature")
			}
		})
	}
}

func TestSignV2Vectors(t *testing.T) {
	tests := []struct {
		name, uri, want string
	}{
		{"answer URL", "https://example.com/answer/", "QDvcrKpq8NVM0JmBiCQYQZfUyrZpCSDoZOzuSkEW2a4="},
		{"query is not signed", "https://example.com/answer/?a=1&b=2", "QDvcrKpq8NVM0JmBiCQYQZfUyrZpCSDoZOzuSkEW2a4="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SignV2(tt.uri, vecNonce, vecToken); got != tt.want {
				t.Errorf("SignV2 = %q, want %q", got, tt.want)
			}
			if !ValidateV2(tt.uri, vecNonce, vecToken, tt.want) {
				t.Error("ValidateV2 rejected the reference signature")
			}
		})
	}
}

func TestValidateV3(t *testing.T) {
	uri := "https://example.com/answer/"
	params := url.Values{"CallUUID": {"abc"}, "From": {"14155550100"}, "To": {"14155550101"}, "Direction": {"inbound"}}
	good := "zAdThsRRXYdyDcKLOe/ZMW40oPUtT5wkKWA9ymRuTc4="
	tests := []struct {
		name   string
		method string
		uri    string
		nonce  string
		token  string
		header string
		params url.Values
		want   bool
	}{
		{"reference", "POST", uri, vecNonce, vecToken, good, params, true},
		{"lower-case method", "post", uri, vecNonce, vecToken, good, params, true},
		{"several signatures, match last", "POST", uri, vecNonce, vecToken, "bm90IGl0,also-not," + good, params, true},
		{"several signatures, match first", "POST", uri, vecNonce, vecToken, good + ",bm90IGl0", params, true},
		{"wrong token", "POST", uri, vecNonce, "OTHER_TOKEN", good, params, false},
		{"wrong nonce", "POST", uri, "12345678901234567891", vecToken, good, params, false},
		{"tampered param", "POST", uri, vecNonce, vecToken, good, url.Values{"CallUUID": {"abd"}, "From": {"14155550100"}, "To": {"14155550101"}, "Direction": {"inbound"}}, false},
		{"extra param", "POST", uri, vecNonce, vecToken, good, url.Values{"X": {"1"}, "CallUUID": {"abc"}, "From": {"14155550100"}, "To": {"14155550101"}, "Direction": {"inbound"}}, false},
		{"other path", "POST", "https://example.com/answer2/", vecNonce, vecToken, good, params, false},
		{"GET instead of POST", "GET", uri, vecNonce, vecToken, good, params, false},
		{"signature with spaces is not trimmed (as the SDK)", "POST", uri, vecNonce, vecToken, " " + good, params, false},
		{"empty header", "POST", uri, vecNonce, vecToken, "", params, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidateV3(tt.method, tt.uri, tt.nonce, tt.token, tt.header, tt.params); got != tt.want {
				t.Errorf("ValidateV3 = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCanonicalV3(t *testing.T) {
	tests := []struct {
		name   string
		method string
		uri    string
		params url.Values
		want   string
	}{
		{"POST no params no query", "POST", "https://example.com/a", nil, "https://example.com/a"},
		{"POST no params with query", "POST", "https://example.com/a?b=1", nil, "https://example.com/a?b=1"},
		{"POST key without values still counts", "POST", "https://example.com/a", url.Values{"k": {}}, "https://example.com/a?"},
		{"GET no params", "GET", "https://example.com/a", nil, "https://example.com/a"},
		{"multiple values sorted", "POST", "https://example.com/a", url.Values{"m": {"b", "a", "c"}}, "https://example.com/a?mambmc"},
		{"GET multiple values merged with query", "GET", "https://example.com/a?m=z&m=b", url.Values{"m": {"a"}}, "https://example.com/a?m=a&m=b&m=z"},
		{"keys sorted by byte order (upper case first)", "POST", "https://example.com/a", url.Values{"b": {"1"}, "B": {"2"}, "a": {"3"}}, "https://example.com/a?B2a3b1"},
		{"query decoded, + is space", "GET", "https://example.com/a?x=%C3%A9+%2B", nil, "https://example.com/a?x=é +"},
		{"malformed escape kept", "GET", "https://example.com/a?x=%zz%4", nil, "https://example.com/a?x=%zz%4"},
		{"semicolon is not a separator", "GET", "https://example.com/a?x=1;y=2", nil, "https://example.com/a?x=1;y=2"},
		{"empty pieces skipped, bare key", "GET", "https://example.com/a?&&k&=v", nil, "https://example.com/a?=v&k="},
		{"fragment dropped", "GET", "https://example.com/a?x=1#frag?y=2", nil, "https://example.com/a?x=1"},
		{"port kept, path not decoded", "POST", "https://example.com:8443/a%20b/c.php", url.Values{"k": {"v"}}, "https://example.com:8443/a%20b/c.php?kv"},
		{"userinfo dropped", "POST", "https://u:p@example.com/a", nil, "https://example.com/a"},
		{"no path", "POST", "https://example.com", nil, "https://example.com"},
		{"root path", "POST", "https://example.com/", nil, "https://example.com/"},
		{"empty port dropped", "POST", "https://example.com:/p", nil, "https://example.com/p"},
		{"empty query dropped", "GET", "http://127.0.0.1:8080/x?", nil, "http://127.0.0.1:8080/x"},
		{"no scheme reads as http", "GET", "example.com/x", nil, "http://example.com/x"},
		{"scheme case kept", "GET", "HTTPS://example.com/x", nil, "HTTPS://example.com/x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := canonicalV3(tt.method, tt.uri, tt.params); got != tt.want {
				t.Errorf("canonicalV3\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSignV3DoesNotModifyParams(t *testing.T) {
	params := url.Values{"m": {"c", "a", "b"}}
	want := url.Values{"m": {"c", "a", "b"}}
	SignV3("POST", "https://example.com/?m=z", params, vecNonce, vecToken)
	SignV3("GET", "https://example.com/?m=z", params, vecNonce, vecToken)
	if !reflect.DeepEqual(params, want) {
		t.Errorf("params changed to %v", params)
	}
}
