package voice_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
)

// A multi-party call of three diago callers — agent, customer, and a
// supervisor in coach mode: the agent hears both, the customer hears the
// agent but not the supervisor (a whisper), the supervisor hears both. Hold
// (the API) takes the customer out of the mix; coach mode off makes the
// supervisor heard by all; a kick ends the leg; status callbacks carry
// Plivo's events.
func TestMPCRolesCoachAndHold(t *testing.T) {
	s := newStack(t, stackOptions{})
	s.app.set("/mpccb", "ok")
	s.app.set("/hangup", "ok")
	acct := s.acct.Account.ID
	roles := []string{"agent", "customer", "supervisor"}
	freqs := []float64{450, 750, 1250}
	phones := make([]*phone, 3)
	for i, role := range roles {
		s.app.set("/answer", `<Response><MultiPartyCall role="`+role+`" statusCallbackUrl="`+s.app.url("/mpccb")+
			`" enterSound="none" exitSound="none" stayAlone="true">Desk</MultiPartyCall></Response>`)
		p, err := call(t, s, s.number)
		if err != nil {
			t.Fatal(err)
		}
		phones[i] = p
		deadline := time.Now().Add(10 * time.Second)
		for {
			m, err := s.srv.MPC(acct, "name_Desk")
			if err == nil && len(m.Participants) == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("caller %d not in the MPC: %+v %v", i, m, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	m, _ := s.srv.MPC(acct, "name_Desk")
	if m.Status != "Active" || m.Participants[2].Role != "supervisor" || !m.Participants[2].CoachMode {
		t.Fatalf("mpc: %+v", m)
	}
	if _, err := s.srv.MPC("MAOTHER", "name_Desk"); trunkline.ErrorCode(err) != trunkline.ENOTFOUND {
		t.Fatalf("another account sees the MPC: %v", err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() { close(stop); wg.Wait() }()
	for i, p := range phones {
		talkTone(t, p, freqs[i], stop, &wg)
	}
	check := func(name string, want [3][3]bool) {
		t.Helper()
		time.Sleep(300 * time.Millisecond) // the change reaches the wire
		heard := make([][]int16, 3)
		var hw sync.WaitGroup
		for i, p := range phones {
			hw.Add(1)
			go func() { defer hw.Done(); heard[i] = p.window(1200 * time.Millisecond) }()
		}
		hw.Wait()
		for i := range phones {
			for j, f := range freqs {
				a := toneAmp(heard[i], f)
				if (a > 800) != want[i][j] || (!want[i][j] && a > 300) {
					t.Fatalf("%s: %s hears %.0f Hz at amplitude %.0f; want heard=%v", name, roles[i], f, a, want[i][j])
				}
			}
		}
	}
	check("coach mode", [3][3]bool{{false, true, true}, {true, false, false}, {true, true, false}})
	ctx := context.Background()
	yes, no := true, false
	if _, err := s.srv.MPCCommand(ctx, acct, "uuid_"+m.UUID, trunkline.MPCCommand{Kind: "update", Members: []string{"2"}, Hold: &yes}); err != nil {
		t.Fatal(err)
	}
	check("customer on hold", [3][3]bool{{false, false, true}, {false, false, false}, {true, false, false}})
	if _, err := s.srv.MPCCommand(ctx, acct, "name_Desk", trunkline.MPCCommand{Kind: "update", Members: []string{"2"}, Hold: &no}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.srv.MPCCommand(ctx, acct, "name_Desk", trunkline.MPCCommand{Kind: "update", Members: []string{"3"}, CoachMode: &no}); err != nil {
		t.Fatal(err)
	}
	check("coach mode off", [3][3]bool{{false, true, true}, {true, false, true}, {true, true, false}})
	if _, err := s.srv.MPCCommand(ctx, acct, "name_Desk", trunkline.MPCCommand{Kind: "kick", Members: []string{"2"}}); err != nil {
		t.Fatal(err)
	}
	phones[1].ended(t, 10*time.Second)
	m, _ = s.srv.MPC(acct, "name_Desk")
	if m.Participants[1].ExitCause != "Kicked Out of Multiparty Call" || m.Participants[1].Exited == nil {
		t.Fatalf("kicked participant: %+v", m.Participants[1])
	}
	if _, err := s.srv.MPCCommand(ctx, acct, "name_Desk", trunkline.MPCCommand{Kind: "end"}); err != nil {
		t.Fatal(err)
	}
	phones[0].ended(t, 10*time.Second)
	phones[2].ended(t, 10*time.Second)
	m, err := s.srv.MPC(acct, "uuid_"+m.UUID)
	if err != nil || m.Status != "Ended" || m.TerminationCauseCode != 1000 {
		t.Fatalf("ended mpc: %+v %v", m, err)
	}
	s.app.mu.Lock()
	events := map[string]bool{}
	for _, ev := range s.app.hit["/mpccb"] {
		events[ev.Get("EventName")] = true
		if ev.Get("MPCUUID") != m.UUID || ev.Get("MPCName") != "Desk" {
			t.Errorf("event %v", ev)
		}
	}
	s.app.mu.Unlock()
	for _, want := range []string{"MPCStart", "ParticipantJoin", "ParticipantHold", "ParticipantUnhold", "ParticipantCoachModeStop", "ParticipantExit", "MPCEnd"} {
		if !events[want] {
			t.Errorf("no %s status callback (got %v)", want, events)
		}
	}
}
