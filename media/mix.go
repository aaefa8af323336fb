package media

import (
	"sync"
	"time"

	"github.com/trunkline/trunkline/audio"
)

// TimeMix mixes several live sources (both directions of a call, for the Call
// API's recordings) into one track on the wall clock: each 20 ms frame, heard or
// sent, is added at the sample position its arrival time gives, so the sources
// line up. Frames past the limit are dropped.
type TimeMix struct {
	start time.Time
	limit int // samples

	mu  sync.Mutex
	pcm []int16
}

// NewTimeMix starts a mix at start that holds at most limit of audio.
func NewTimeMix(start time.Time, limit time.Duration) *TimeMix {
	return &TimeMix{start: start, limit: int(limit.Seconds() * audio.SampleRate)}
}

// Add mixes f in at the position now gives it (a Tap or TapOut callback).
func (m *TimeMix) Add(f []int16) {
	m.mu.Lock()
	defer m.mu.Unlock()
	pos := int(time.Since(m.start) * audio.SampleRate / time.Second)
	if pos < 0 || pos+len(f) > m.limit {
		return
	}
	if need := pos + len(f); need > len(m.pcm) {
		m.pcm = append(m.pcm, make([]int16, need-len(m.pcm))...)
	}
	for i, v := range f {
		s := int32(m.pcm[pos+i]) + int32(v)
		m.pcm[pos+i] = int16(max(-32768, min(32767, s)))
	}
}

// PCM is the mix so far.
func (m *TimeMix) PCM() []int16 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pcm
}
