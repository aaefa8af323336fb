package pdu

import "testing"

// Figures for the codec's share of the message path; run with
// go test -bench . ./smpp/pdu.

func BenchmarkAppendMarshalSubmitSM(b *testing.B) {
	p := goldenCases()["submit_sm_udh_ucs2"]
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendMarshal(buf[:0], p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnmarshalDeliverSMReceipt(b *testing.B) {
	raw := readGolden(b, "deliver_sm_receipt")
	b.ReportAllocs()
	for b.Loop() {
		p, err := Unmarshal(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := ParseReceipt(p.(*DeliverSM).ShortMessage); err != nil {
			b.Fatal(err)
		}
	}
}
