package config

import "strings"

// callingCodes maps ISO 3166 codes to E.164 country calling codes, for routes given by
// country. Countries sharing a code (NANP "1") route together.
var callingCodes = map[string]string{
	"US": "1", "CA": "1", "PR": "1", "GB": "44", "IE": "353", "FR": "33", "DE": "49", "ES": "34", "IT": "39",
	"PT": "351", "NL": "31", "BE": "32", "LU": "352", "CH": "41", "AT": "43", "DK": "45", "SE": "46", "NO": "47",
	"FI": "358", "IS": "354", "PL": "48", "CZ": "420", "SK": "421", "HU": "36", "RO": "40", "BG": "359", "GR": "30",
	"HR": "385", "SI": "386", "RS": "381", "UA": "380", "EE": "372", "LV": "371", "LT": "370", "TR": "90",
	"IL": "972", "AE": "971", "SA": "966", "QA": "974", "EG": "20", "ZA": "27", "NG": "234", "KE": "254",
	"MA": "212", "IN": "91", "PK": "92", "BD": "880", "LK": "94", "CN": "86", "HK": "852", "TW": "886",
	"JP": "81", "KR": "82", "SG": "65", "MY": "60", "TH": "66", "VN": "84", "PH": "63", "ID": "62",
	"AU": "61", "NZ": "64", "MX": "52", "BR": "55", "AR": "54", "CL": "56", "CO": "57", "PE": "51",
}

// CallingCode returns the calling code of an ISO country code.
func CallingCode(iso string) (string, bool) {
	c, ok := callingCodes[strings.ToUpper(iso)]
	return c, ok
}

// RoutePrefix is the digits prefix a route matches (its country's code when given).
func (r Route) RoutePrefix() string {
	if r.Country != "" {
		c, _ := CallingCode(r.Country)
		return c
	}
	return r.Prefix
}
