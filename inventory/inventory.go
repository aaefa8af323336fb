// Package inventory reads the operator's number inventory: the phone numbers Trunkline
// may rent to customers, with their country, type, carrier, capabilities and rates, from
// CSV files (one number a row, a header naming the columns).
package inventory

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/trunkline/trunkline"
)

// Columns are the CSV header names understood; only number and country_iso are required.
var Columns = []string{"number", "country_iso", "type", "region", "prefix", "carrier", "voice", "sms", "mms",
	"monthly_rental_rate", "setup_rate", "sms_rate", "voice_rate"}

// MaxRows bounds one import, so a wrong file cannot exhaust memory.
const MaxRows = 1_000_000

var types = map[string]bool{"local": true, "mobile": true, "tollfree": true, "fixed": true, "national": true}

// ParseCSV reads numbers from r. Errors name the line and column.
func ParseCSV(r io.Reader) ([]*trunkline.Number, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the CSV file is empty: it needs a header line such as number,country_iso,type,carrier")
	}
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	idx := map[string]int{}
	known := map[string]bool{}
	for _, c := range Columns {
		known[c] = true
	}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !known[h] {
			return nil, fmt.Errorf("CSV header: unknown column %q (known: %s)", h, strings.Join(Columns, ", "))
		}
		idx[h] = i
	}
	for _, req := range []string{"number", "country_iso"} {
		if _, ok := idx[req]; !ok {
			return nil, fmt.Errorf("CSV header: column %q is required", req)
		}
	}
	var out []*trunkline.Number
	seen := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			return nil, err
		}
		if len(out) >= MaxRows {
			return nil, fmt.Errorf("more than %d rows: split the file", MaxRows)
		}
		get := func(c string) string {
			if i, ok := idx[c]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		n, err := parseRow(get)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if prev, dup := seen[n.Number]; dup {
			return nil, fmt.Errorf("line %d: number %s is also on line %d", line, n.Number, prev)
		}
		seen[n.Number] = line
		out = append(out, n)
	}
	return out, nil
}

func parseRow(get func(string) string) (*trunkline.Number, error) {
	n := &trunkline.Number{
		Number: strings.TrimPrefix(get("number"), "+"), CountryISO: strings.ToUpper(get("country_iso")),
		Type: strings.ToLower(get("type")), Region: get("region"), Prefix: get("prefix"), Carrier: get("carrier"),
	}
	if err := ValidNumber(n.Number); err != nil {
		return nil, err
	}
	if len(n.CountryISO) != 2 || strings.Trim(n.CountryISO, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
		return nil, fmt.Errorf("country_iso %q must be a two-letter ISO code such as US", n.CountryISO)
	}
	if n.Type == "" {
		n.Type = "local"
	}
	if !types[n.Type] {
		return nil, fmt.Errorf("type %q must be local, mobile, tollfree, fixed or national", n.Type)
	}
	var err error
	for _, f := range []struct {
		col string
		dst *bool
		def bool
	}{{"voice", &n.VoiceEnabled, true}, {"sms", &n.SMSEnabled, true}, {"mms", &n.MMSEnabled, false}} {
		if *f.dst, err = parseBool(f.col, get(f.col), f.def); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct {
		col string
		dst *string
	}{{"monthly_rental_rate", &n.MonthlyRentalRate}, {"setup_rate", &n.SetupRate}, {"sms_rate", &n.SMSRate}, {"voice_rate", &n.VoiceRate}} {
		if *f.dst, err = parseRate(f.col, get(f.col)); err != nil {
			return nil, err
		}
	}
	for _, f := range []string{n.Region, n.Prefix, n.Carrier} {
		if len(f) > 128 {
			return nil, errors.New("region, prefix and carrier are at most 128 characters")
		}
	}
	return n, nil
}

// ValidNumber checks an E.164 number given as digits.
func ValidNumber(n string) error {
	if len(n) < 7 || len(n) > 15 || n[0] == '0' || strings.Trim(n, "0123456789") != "" {
		return fmt.Errorf("number %q is not an E.164 number (7 to 15 digits, no leading 0)", n)
	}
	return nil
}

func parseBool(col, v string, def bool) (bool, error) {
	switch strings.ToLower(v) {
	case "":
		return def, nil
	case "true", "yes", "1", "y":
		return true, nil
	case "false", "no", "0", "n":
		return false, nil
	}
	return false, fmt.Errorf("%s %q must be true or false", col, v)
}

// parseRate keeps rates as decimal strings with five places, as Plivo shows them.
func parseRate(col, v string) (string, error) {
	if v == "" {
		return "0.00000", nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f > 1e6 {
		return "", fmt.Errorf("%s %q must be a non-negative amount such as 0.80", col, v)
	}
	return strconv.FormatFloat(f, 'f', 5, 64), nil
}
