package pdu_test

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/trunkline/trunkline/smpp/charset"
	"github.com/trunkline/trunkline/smpp/pdu"
)

// An ESME sends a long message as concatenated submit_sm PDUs.
func Example_submit() {
	coding, parts, err := charset.Split("Your code is 123456. It expires in 10 minutes. Do not share it with anyone, not even someone who says they work for us: we never ask for it. {Trunkline} Charges: €0.00")
	if err != nil {
		panic(err)
	}
	for i, part := range parts {
		sm := &pdu.SubmitSM{
			Hdr:             pdu.Header{Seq: uint32(i + 1)},
			SourceAddr:      "Trunkline",
			SourceAddrTON:   5,
			DestAddrTON:     1,
			DestAddrNPI:     1,
			DestinationAddr: "14155550100",
			DataCoding:      coding,
			ShortMessage:    part,
		}
		if len(parts) > 1 {
			sm.ESMClass |= pdu.ESMClassUDHI
			sm.ShortMessage = append(charset.ConcatUDH8(0x2A, byte(len(parts)), byte(i+1)), part...)
		}
		sm.RegisteredDelivery = pdu.RegisteredDeliveryReceipt
		b, err := pdu.Marshal(sm)
		if err != nil {
			panic(err)
		}
		// The first segment holds 152 septets, not 153: the 153rd
		// would have split the escape pair of the '}'.
		fmt.Printf("segment %d: %d octets of PDU, %d septets of text\n", i+1, len(b), len(part))
	}
	// Output:
	// segment 1: 211 octets of PDU, 152 septets of text
	// segment 2: 77 octets of PDU, 18 septets of text
}

// An ESME reads a delivery receipt off its connection and finds the
// message it is about.
func Example_receipt() {
	submitted := map[string]string{}                  // correlation key → our message id
	submitted[pdu.MessageIDKey("0A1B2C3D")] = "msg-1" // from submit_sm_resp

	wire, _ := pdu.Marshal(&pdu.DeliverSM{
		Hdr:          pdu.Header{Seq: 7},
		ESMClass:     pdu.ESMClassReceipt,
		ShortMessage: []byte("id:169552957 sub:001 dlvrd:001 submit date:2401021504 done date:2401021505 stat:DELIVRD err:000 text:Your code is"),
	})
	raw, err := pdu.ReadPDU(bytes.NewReader(wire), pdu.DefaultMaxLen)
	if err != nil {
		panic(err)
	}
	p, err := pdu.Unmarshal(raw)
	var se *pdu.StatusError
	if errors.As(err, &se) {
		// Answer with the status the decoder chose, then carry on.
		resp, _ := pdu.Marshal(pdu.Response(se.Header, se.Status))
		_ = resp
		return
	}
	dsm := p.(*pdu.DeliverSM)
	if dsm.IsReceipt() {
		r, _ := pdu.ParseReceipt(dsm.Message())
		state, _ := r.State()
		for _, k := range pdu.MessageIDKeys(r.ID) {
			if id, ok := submitted[k]; ok {
				fmt.Println(id, state, r.DoneDate.Format("2006-01-02 15:04"))
				break
			}
		}
	}
	resp, _ := pdu.Marshal(pdu.Response(*p.Header(), pdu.ESME_ROK))
	fmt.Printf("answer %X\n", resp)
	// Output:
	// msg-1 DELIVERED 2024-01-02 15:05
	// answer 0000001180000005000000000000000700
}
