package inventory

import (
	"strings"
	"testing"
)

func TestParseCSV(t *testing.T) {
	in := "\ufeffnumber,country_iso,type,region,carrier,voice,sms,monthly_rental_rate\n" +
		"+14155550100,us,local,California,carrier-a,true,true,0.8\n" +
		"442071838750,GB,mobile,London,carrier-b,no,yes,\n"
	ns, err := ParseCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ns) != 2 {
		t.Fatalf("got %d numbers", len(ns))
	}
	a, b := ns[0], ns[1]
	if a.Number != "14155550100" || a.CountryISO != "US" || a.Type != "local" || !a.VoiceEnabled || a.MonthlyRentalRate != "0.80000" {
		t.Fatalf("row 1 parsed as %+v", a)
	}
	if b.VoiceEnabled || !b.SMSEnabled || b.MMSEnabled || b.MonthlyRentalRate != "0.00000" || b.Carrier != "carrier-b" {
		t.Fatalf("row 2 parsed as %+v", b)
	}
}

func TestParseCSVErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"empty", "", "empty"},
		{"unknown column", "number,country_iso,colour\n", `unknown column "colour"`},
		{"missing country", "number\n14155550100\n", `"country_iso" is required`},
		{"bad number", "number,country_iso\n12ab,US\n", "line 2"},
		{"leading zero", "number,country_iso\n04155550100,US\n", "E.164"},
		{"bad country", "number,country_iso\n14155550100,USA\n", "two-letter"},
		{"bad type", "number,country_iso,type\n14155550100,US,satellite\n", "type"},
		{"bad bool", "number,country_iso,sms\n14155550100,US,maybe\n", "sms"},
		{"negative rate", "number,country_iso,sms_rate\n14155550100,US,-1\n", "sms_rate"},
		{"duplicate", "number,country_iso\n14155550100,US\n+14155550100,US\n", "also on line 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseCSV(strings.NewReader(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want it to mention %q", err, c.want)
			}
		})
	}
}
