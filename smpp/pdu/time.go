package pdu

import (
	"errors"
	"fmt"
	"time"
)

// ParseTime parses an SMPP time (schedule_delivery_time, validity_period,
// final_date): absolute "YYMMDDhhmmsstnnp" with p '+' or '-' and nn the
// offset from UTC in quarter hours, or relative "YYMMDDhhmmss000R", which
// is added to now. An empty string, meaning "not set", gives the zero
// time. The result is in UTC.
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if len(s) != 16 {
		return time.Time{}, fmt.Errorf("smpp: time %q is not 16 characters", s)
	}
	var n [7]int // YY MM DD hh mm ss, then nn
	for i := range 6 {
		v, ok := twoDigits(s[2*i:])
		if !ok {
			return time.Time{}, fmt.Errorf("smpp: time %q has a non-digit", s)
		}
		n[i] = v
	}
	tenths := int(s[12] - '0')
	nn, ok := twoDigits(s[13:])
	if s[12] < '0' || s[12] > '9' || !ok {
		return time.Time{}, fmt.Errorf("smpp: time %q has a non-digit", s)
	}
	switch s[15] {
	case 'R':
		return now.UTC().AddDate(n[0], n[1], n[2]).
			Add(time.Duration(n[3])*time.Hour + time.Duration(n[4])*time.Minute + time.Duration(n[5])*time.Second), nil
	case '+', '-':
		if nn > 48 {
			return time.Time{}, fmt.Errorf("smpp: time %q has an offset beyond 12 hours", s)
		}
		offset := nn * 15 * 60
		if s[15] == '-' {
			offset = -offset
		}
		t := time.Date(2000+n[0], time.Month(n[1]), n[2], n[3], n[4], n[5], tenths*1e8, time.FixedZone("", offset))
		if t.Month() != time.Month(n[1]) || t.Day() != n[2] || n[3] > 23 || n[4] > 59 || n[5] > 59 {
			return time.Time{}, fmt.Errorf("smpp: time %q is not a valid date", s)
		}
		return t.UTC(), nil
	}
	return time.Time{}, errors.New("smpp: time must end in '+', '-' or 'R'")
}

func twoDigits(s string) (int, bool) {
	if len(s) < 2 || s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	return int(s[0]-'0')*10 + int(s[1]-'0'), true
}

// FormatTime formats t as an absolute SMPP time in UTC.
func FormatTime(t time.Time) string {
	t = t.UTC()
	return t.Format("060102150405") + fmt.Sprintf("%d00+", t.Nanosecond()/1e8)
}

// FormatRelativeTime formats d as a relative SMPP time, as used for a
// validity_period derived from an expiry in seconds. Durations beyond 99
// days are capped there, since the day field has two digits and months
// have no fixed length; negative ones count as zero.
func FormatRelativeTime(d time.Duration) string {
	const maxRel = 99*24*time.Hour + 23*time.Hour + 59*time.Minute + 59*time.Second
	d = min(max(d, 0), maxRel)
	secs := int(d / time.Second)
	return fmt.Sprintf("0000%02d%02d%02d%02d000R", secs/86400, secs/3600%24, secs/60%60, secs%60)
}
