package voice

import (
	"log/slog"
	"testing"
	"time"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/media"
	"github.com/trunkline/trunkline/plivoxml"
)

// nullLeg stands in for a call's Channel in the mixer (a mock: the tests with
// real callers are TestMPCRolesCoachAndHold and TestConferenceThreeCallers).
type nullLeg struct{}

func (nullLeg) Tap(func([]int16)) func() { return func() {} }
func (nullLeg) SetFeed(*media.FIFO)      {}

func mpcTestServer() *Server {
	return &Server{o: Options{Now: time.Now}, log: slog.New(slog.DiscardHandler)}
}

func mpcTestCall(s *Server, uuid string) *Call {
	return &Call{s: s, rec: trunkline.Call{UUID: uuid, AccountID: "MA1", From: "+15550001"}}
}

// A caller joining while the MPC ends — end has marked it ended and not yet
// forgotten it — gets a new MPC of that name: joining the ending one put it in
// a room whose mixer stops, and nobody would ever tell it to leave (the API
// refuses commands on an ended MPC), so the caller sat in silence.
func TestMPCJoinWhileEnding(t *testing.T) {
	s := mpcTestServer()
	old, p1, err := s.joinMPC(mpcTestCall(s, "c1"), "Desk", "agent", mpcAttrs{})
	if err != nil {
		t.Fatal(err)
	}
	p1.m = old.room.Join(nullLeg{}, media.MemberOptions{})
	// The first half of end: marked ended, still in the live map.
	old.mu.Lock()
	now := time.Now()
	old.endedAt, old.status = &now, "Ended"
	old.mu.Unlock()
	old.timer.Stop()
	t.Cleanup(old.room.Close)

	m, p2, err := s.joinMPC(mpcTestCall(s, "c2"), "Desk", "customer", mpcAttrs{})
	if err != nil {
		t.Fatal(err)
	}
	if m == old {
		t.Fatal("a caller joined an MPC that is ending: nobody tells it to leave")
	}
	p2.m = m.room.Join(nullLeg{}, media.MemberOptions{})
	m.end("test over", 1000)
	select {
	case <-p2.out:
	case <-time.After(5 * time.Second):
		t.Fatal("ending the new MPC did not tell its participant to leave")
	}
}

// What an ended MPC keeps for the API is its participants' records, not their
// media: the mixer's member (the call's channel, the wait music) and the hold
// music go when a participant leaves. mpcKeepEnded MPCs are kept, each with up
// to ten participants and ten minutes of music apiece.
func TestMPCLeaveDropsMedia(t *testing.T) {
	s := mpcTestServer()
	m, p1, err := s.joinMPC(mpcTestCall(s, "c1"), "Desk", "agent", mpcAttrs{"exitSound": "none"})
	if err != nil {
		t.Fatal(err)
	}
	_, p2, err := s.joinMPC(mpcTestCall(s, "c2"), "Desk", "customer", mpcAttrs{"exitSound": "none"})
	if err != nil {
		t.Fatal(err)
	}
	music := make([]int16, 8000)
	for _, p := range []*mpcPart{p1, p2} {
		p.holdPCM = music
		p.m = m.room.Join(nullLeg{}, media.MemberOptions{Music: music})
	}
	m.leave(p1, "Participant Call Hangup")
	m.leave(p2, "Participant Call Hangup")
	v, err := s.MPC("MA1", "uuid_"+m.uuid)
	if err != nil || v.Status != "Ended" || len(v.Participants) != 2 || v.Participants[1].ExitCause != "Participant Call Hangup" {
		t.Fatalf("ended MPC %+v, %v", v, err)
	}
	if _, err := s.MPC("MAOTHER", "uuid_"+m.uuid); trunkline.ErrorCode(err) != trunkline.ENOTFOUND {
		t.Fatalf("another account sees the ended MPC by its uuid: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.parts {
		if p.m != nil || p.holdPCM != nil {
			t.Fatalf("participant %s left, its mixer member (%v) or hold music (%d samples) is kept", p.id, p.m != nil, len(p.holdPCM))
		}
	}
}

// Describing a room while a caller joins it reads the caller's mixer member
// under the room's lock, where the join sets it (go test -race saw the read
// without it).
func TestConferenceDescribeWhileJoining(t *testing.T) {
	s := mpcTestServer()
	e := plivoxml.Conference{Room: "Team", MaxMembers: 20}
	conf, m, err := s.join(mpcTestCall(s, "c1"), e)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conf.room.Close)
	done := make(chan struct{})
	go func() {
		defer close(done)
		conf.mu.Lock()
		m.m = conf.room.Join(nullLeg{}, media.MemberOptions{Muted: true})
		conf.mu.Unlock()
	}()
	for range 100 {
		if _, err := s.Conference("MA1", "Team"); err != nil {
			t.Fatal(err)
		}
	}
	<-done
	c, err := s.Conference("MA1", "Team")
	if err != nil || len(c.Members) != 1 || !c.Members[0].Muted {
		t.Fatalf("conference %+v, %v", c, err)
	}
	if _, err := s.Conference("MAOTHER", "Team"); trunkline.ErrorCode(err) != trunkline.ENOTFOUND {
		t.Fatalf("another account sees the room: %v", err)
	}
}
