package webhook

import (
	"net/http"
	"net/url"
	"testing"
)

// statusParams are the parameters of a message status callback, as the SMS service
// sends them.
func statusParams() url.Values {
	params := url.Values{}
	for k, v := range map[string]string{"MessageUUID": "0193a7c0-1234-7000-8000-000000000001", "To": "14155550100",
		"From": "14155550199", "Type": "sms", "Status": "delivered", "Units": "1", "TotalRate": "0.00000",
		"TotalAmount": "0.00000", "MCC": "", "MNC": "", "ParentMessageUUID": "0193a7c0-1234-7000-8000-000000000001",
		"PartInfo": "1 of 1", "Sequence": "1", "MessageTime": "2026-12-06 17:40:00+00:00", "QueuedTime": "2026-12-06 17:40:00+00:00",
		"SentTime": "2026-12-06 17:40:00+00:00", "DeliveryReportTime": "2026-12-06 17:40:01+00:00", "PowerpackUUID": "",
		"requester_ip": "127.0.0.1"} {
		params.Set(k, v)
	}
	return params
}

// BenchmarkSign signs a message status callback for a subaccount (two tokens) and for
// a main account (one): V3 and V2, both headers each.
func BenchmarkSign(b *testing.B) {
	params := statusParams()
	c := &Client{}
	for _, tc := range []struct{ name, main string }{{"subaccount", "main-token-0123456789abcdef"}, {"main", ""}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				hreq, _ := http.NewRequest(http.MethodPost, "http://127.0.0.1:8080/status?i=42", nil)
				c.sign(hreq, Request{Params: params, AuthToken: "account-token-0123456789abcdef", MainAuthToken: tc.main})
			}
		})
	}
}

// BenchmarkEncodeForm encodes a status callback's parameters as its POST body: with
// encodeForm, and with url.Values.Encode, which it replaced.
func BenchmarkEncodeForm(b *testing.B) {
	params := statusParams()
	for _, tc := range []struct {
		name string
		f    func(url.Values) string
	}{{"encodeForm", encodeForm}, {"url.Values.Encode", url.Values.Encode}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tc.f(params)
			}
		})
	}
}
