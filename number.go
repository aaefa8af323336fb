package trunkline

import "time"

// Number is a phone number of the operator's inventory; AccountID is set while a
// customer rents it.
type Number struct {
	Number            string // E.164 digits without "+"
	CountryISO        string
	Type              string // local, mobile, tollfree, fixed, national
	Region            string
	Prefix            string
	Carrier           string
	VoiceEnabled      bool
	SMSEnabled        bool
	MMSEnabled        bool
	MonthlyRentalRate string
	SetupRate         string
	SMSRate           string
	VoiceRate         string
	ImportedAt        time.Time
	AccountID         string
	AppID             string
	Alias             string
	RentedAt          *time.Time
	RenewalAt         *time.Time
}

// NumberSearch filters the inventory of numbers free to rent.
type NumberSearch struct {
	CountryISO string
	Type       string // "" or "any" for all
	Pattern    string // digits the number contains (Plivo: pattern)
	Region     string
	Services   []string // voice, sms, mms: all must be enabled
	Limit      int
	Offset     int
}

// RentedFilter narrows a listing of rented numbers.
type RentedFilter struct {
	Type             string
	NumberStartsWith string
	Subaccount       string
	Alias            string
	Services         []string
	Limit, Offset    int
}
