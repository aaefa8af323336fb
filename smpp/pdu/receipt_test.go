package pdu

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"
)

func utc(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}

func TestParseReceipt(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Receipt
	}{
		{"appendix B", goldenReceipt, Receipt{ID: "0A1B2C3D", Sub: 1, Dlvrd: 1,
			SubmitDate: utc(2024, 1, 2, 15, 4, 0), DoneDate: utc(2024, 1, 2, 15, 5, 0),
			Stat: "DELIVRD", Err: "000", Text: "Hello world"}},
		{"12-digit dates, uppercase keys, Text:", "ID:123 SUB:001 DLVRD:000 SUBMIT DATE:240102150405 DONE DATE:240102150506 STAT:UNDELIV ERR:034 Text:Hi there",
			Receipt{ID: "123", Sub: 1, SubmitDate: utc(2024, 1, 2, 15, 4, 5), DoneDate: utc(2024, 1, 2, 15, 5, 6),
				Stat: "UNDELIV", Err: "034", Text: "Hi there"}},
		{"extra spaces and lower-case stat", "  id:abc   sub:1  dlvrd:1 submit  date:2401021504   done date:2401021505 stat:delivrd  err:0 text:",
			Receipt{ID: "abc", Sub: 1, Dlvrd: 1, SubmitDate: utc(2024, 1, 2, 15, 4, 0), DoneDate: utc(2024, 1, 2, 15, 5, 0),
				Stat: "DELIVRD", Err: "0"}},
		{"underscored date keys", "id:9 submit_date:2401021504 done_date:2401021505 stat:EXPIRED",
			Receipt{ID: "9", SubmitDate: utc(2024, 1, 2, 15, 4, 0), DoneDate: utc(2024, 1, 2, 15, 5, 0), Stat: "EXPIRED"}},
		{"fields missing", "id:77 stat:REJECTD", Receipt{ID: "77", Stat: "REJECTD"}},
		{"no id, only stat", "stat:DELIVRD err:000", Receipt{Stat: "DELIVRD", Err: "000"}},
		{"fields in another order", "stat:ACCEPTD id:5 err:1 sub:2", Receipt{ID: "5", Sub: 2, Stat: "ACCEPTD", Err: "1"}},
		{"text keeps colons and spaces", "id:1 stat:DELIVRD text:id:2 stat:UNDELIV  ",
			Receipt{ID: "1", Stat: "DELIVRD", Text: "id:2 stat:UNDELIV  "}},
		{"unreadable date left zero", "id:1 submit date:2413991504 done date:99 stat:DELIVRD",
			Receipt{ID: "1", Stat: "DELIVRD"}},
		{"empty value before the next key", "id: stat:DELIVRD", Receipt{Stat: "DELIVRD"}},
		{"value after a space following the colon", "id: 42 stat: DELIVRD", Receipt{ID: "42", Stat: "DELIVRD"}},
		{"unknown tokens skipped", "foo id:1 bar:baz stat:ENROUTE", Receipt{ID: "1", Stat: "ENROUTE"}},
		{"tabs and newlines", "id:1\tsub:001\r\nstat:DELETED", Receipt{ID: "1", Sub: 1, Stat: "DELETED"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReceipt([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseReceiptRejects(t *testing.T) {
	for _, in := range []string{"", "   ", "Hello, see you at 5", "identity:1 status:ok", "text:id:1 stat:DELIVRD"} {
		if r, err := ParseReceipt([]byte(in)); !errors.Is(err, ErrNotReceipt) {
			t.Errorf("ParseReceipt(%q) = %+v, %v; want ErrNotReceipt", in, r, err)
		}
	}
}

func TestReceiptState(t *testing.T) {
	tests := []struct {
		stat string
		want MessageState
		ok   bool
	}{
		{"DELIVRD", StateDelivered, true},
		{"DELIVERED", StateDelivered, true},
		{"UNDELIV", StateUndeliverable, true},
		{"UNDELIVERABLE", StateUndeliverable, true},
		{"EXPIRED", StateExpired, true},
		{"DELETED", StateDeleted, true},
		{"ACCEPTD", StateAccepted, true},
		{"UNKNOWN", StateUnknown, true},
		{"REJECTD", StateRejected, true},
		{"ENROUTE", StateEnroute, true},
		{"FAILED", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		got, ok := Receipt{Stat: tt.stat}.State()
		if got != tt.want || ok != tt.ok {
			t.Errorf("State(%q) = %v, %v; want %v, %v", tt.stat, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFormatReceipt(t *testing.T) {
	r := Receipt{ID: "0A1B2C3D", Sub: 1, Dlvrd: 1,
		SubmitDate: utc(2024, 1, 2, 15, 4, 59), DoneDate: time.Date(2024, 1, 2, 16, 5, 0, 0, time.FixedZone("", 3600)),
		Stat: "DELIVRD", Err: "000", Text: "Hello world"}
	if got := string(FormatReceipt(r)); got != goldenReceipt {
		t.Errorf("got  %q\nwant %q", got, goldenReceipt)
	}
	got := string(FormatReceipt(Receipt{ID: "1", Stat: "UNDELIV"}))
	want := "id:1 sub:000 dlvrd:000 submit date:0000000000 done date:0000000000 stat:UNDELIV err:000 text:"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestMessageIDKeys(t *testing.T) {
	tests := []struct {
		name      string
		submit    string // as in submit_sm_resp
		receipt   string // as in the receipt
		wantShare bool
	}{
		{"hex and decimal", "0A1B2C3D", "169552957", true},
		{"decimal and hex", "169552957", "a1b2c3d", true},
		{"leading zeros", "000123", "123", true},
		{"case", "ABCDEF", "abcdef", true},
		{"0x prefix", "0x1F", "31", true},
		{"NUL and spaces", " 42\x00", "42", true},
		{"64-bit hex", "FFFFFFFFFFFFFFFF", "18446744073709551615", true},
		{"beyond 64 bits", "1234567890ABCDEF1234", "85968058272638546416180", true},
		{"uuid-like ids", "c8a7e6b0-1d2e-4f3a-9b8c-7d6e5f4a3b2c", "C8A7E6B0-1D2E-4F3A-9B8C-7D6E5F4A3B2C", true},
		{"different numbers", "0A1B2C3D", "169552958", false},
		{"different words", "msg-1", "msg-2", false},
		{"empty", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stored, lookup := MessageIDKey(tt.submit), MessageIDKeys(tt.receipt)
			if shared := stored != "" && slices.Contains(lookup, stored); shared != tt.wantShare {
				t.Errorf("key %q among %q = %v, want %v", stored, lookup, shared, tt.wantShare)
			}
			// And the other way round: an SMSC may give either form first.
			stored, lookup = MessageIDKey(tt.receipt), MessageIDKeys(tt.submit)
			if shared := stored != "" && slices.Contains(lookup, stored); shared != tt.wantShare {
				t.Errorf("reversed: key %q among %q = %v, want %v", stored, lookup, shared, tt.wantShare)
			}
		})
	}
	if got, want := MessageIDKeys("000123"), []string{"123", "7b", "291"}; !slices.Equal(got, want) {
		t.Errorf("MessageIDKeys(000123) = %q, want %q", got, want)
	}
	if got, want := MessageIDKeys("0A1B2C3D"), []string{"a1b2c3d", "169552957"}; !slices.Equal(got, want) {
		t.Errorf("MessageIDKeys(0A1B2C3D) = %q, want %q", got, want)
	}
	if got, want := MessageIDKeys("msg-1"), []string{"msg-1"}; !slices.Equal(got, want) {
		t.Errorf("MessageIDKeys(msg-1) = %q, want %q", got, want)
	}
	if got := MessageIDKey("0x000"); got != "0" {
		t.Errorf("MessageIDKey(0x000) = %q, want 0", got)
	}
}

func TestParseTime(t *testing.T) {
	now := utc(2024, 1, 31, 12, 0, 0)
	tests := []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{"", time.Time{}, false},
		{"240102150405000+", utc(2024, 1, 2, 15, 4, 5), false},
		{"240102150405300+", utc(2024, 1, 2, 15, 4, 5).Add(300 * time.Millisecond), false},
		{"240102150405004+", utc(2024, 1, 2, 14, 4, 5), false},
		{"240102150405008-", utc(2024, 1, 2, 17, 4, 5), false},
		{"000000010000000R", now.Add(time.Hour), false},
		{"000001000000000R", utc(2024, 2, 1, 12, 0, 0), false},
		{"000100000000000R", utc(2024, 3, 2, 12, 0, 0), false}, // AddDate normalises 31 Feb
		{"240230150405000+", time.Time{}, true},
		{"241302150405000+", time.Time{}, true},
		{"240102250405000+", time.Time{}, true},
		{"240102150405049+", time.Time{}, true},
		{"240102150405000X", time.Time{}, true},
		{"2401021504050+", time.Time{}, true},
		{"24010215040A000+", time.Time{}, true},
	}
	for _, tt := range tests {
		got, err := ParseTime(tt.in, now)
		if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestFormatTime(t *testing.T) {
	if got := FormatTime(time.Date(2024, 1, 2, 16, 4, 5, 700e6, time.FixedZone("", 3600))); got != "240102150405700+" {
		t.Errorf("FormatTime = %q", got)
	}
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "000000000000000R"},
		{-time.Second, "000000000000000R"},
		{90 * time.Second, "000000000130000R"},
		{3 * time.Hour, "000000030000000R"},
		{49*time.Hour + 30*time.Minute + 15*time.Second, "000002013015000R"},
		{1000 * 24 * time.Hour, "000099235959000R"},
	}
	for _, tt := range tests {
		if got := FormatRelativeTime(tt.d); got != tt.want {
			t.Errorf("FormatRelativeTime(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
