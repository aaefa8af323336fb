package voice

import "github.com/trunkline/trunkline/media"

// Hooks for the package's external tests and benchmarks.

// LiftConferenceCeiling lets rooms of s hold n members whatever their
// maxMembers says (Plivo's ceiling is 20): BenchmarkConferenceSIPp measures
// one room of hundreds.
func LiftConferenceCeiling(s *Server, n int) {
	s.confs.mu.Lock()
	s.confs.ceiling = n
	s.confs.mu.Unlock()
}

// ConferenceRoomStats sums the mixer counters of the account's live rooms
// and counts their members.
func ConferenceRoomStats(s *Server, accountID string) (st media.RoomStats, members int) {
	s.confs.mu.Lock()
	var rooms []*conference
	for k, c := range s.confs.rooms {
		if k.account == accountID {
			rooms = append(rooms, c)
		}
	}
	s.confs.mu.Unlock()
	for _, c := range rooms {
		x := c.room.Stats()
		st.Ticks += x.Ticks
		st.Late += x.Late
		st.Skipped += x.Skipped
		st.MaxLate = max(st.MaxLate, x.MaxLate)
		st.MemberFrames += x.MemberFrames
		st.Missing += x.Missing
		st.Dropped += x.Dropped
		st.Gaps += x.Gaps
		members += c.room.Members()
	}
	return st, members
}
