package message

import (
	"encoding/json"
	"testing"
)

// FuzzParamsJSON: paramsJSON writes exactly what encoding/json writes, for any keys
// and values (control characters, quotes, HTML characters, invalid UTF-8, U+2028).
func FuzzParamsJSON(f *testing.F) {
	f.Add("To", "447700900123", "Status", "delivered")
	f.Add("Text", "a \"quoted\" \\ line\nbreak\t<b>&amp;</b>", "", "")
	f.Add("\x00\x1f\x7f", "\xff\xfe bad utf-8 \u2028 \u2029 \U0001F600 é", "k", "\b\f\r")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		p := map[string]string{k1: v1, k2: v2, "MessageUUID": "01a24ced-a629-7109-b738-438480c47182"}
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := paramsJSON(p); string(got) != string(want) {
			t.Fatalf("paramsJSON(%q)\n got %s\nwant %s", p, got, want)
		}
	})
}

func BenchmarkParamsJSON(b *testing.B) {
	p := map[string]string{"MessageUUID": "01a24ced-a629-7109-b738-438480c47182", "From": "14155550100", "To": "447700900123",
		"Status": "delivered", "ErrorCode": "000", "MessageType": "sms", "MessageDirection": "outbound", "Units": "1",
		"TotalRate": "0.00000", "TotalAmount": "0.00000", "MCC": "", "MNC": "", "MessageTime": "2026-12-06 20:00:00+00:00",
		"QueuedTime": "2026-12-06 20:00:00+00:00", "SentTime": "2026-12-06 20:00:00+00:00", "PowerpackUUID": ""}
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(p)
		}
	})
	b.Run("paramsJSON", func(b *testing.B) {
		for b.Loop() {
			paramsJSON(p)
		}
	})
}
