package trunkline

import "time"

// Recording is the metadata of one call recording; the audio is a file kept encrypted
// outside the database.
type Recording struct {
	ID        string
	AccountID string
	CallUUID  string
	Format    string // wav | mp3
	Type      string // Plivo's recording_type; "call" (the default) for call recordings
	// DurationMs is the audio's length; StartMs and EndMs are Unix epoch milliseconds.
	DurationMs, StartMs, EndMs int64
	Size                       int64 // bytes of audio (before encryption)
	From, To                   string
	CreatedAt                  time.Time // Plivo's add_time
}

// RecordingFilter narrows a listing (Plivo's filters). Zero values leave a filter off.
type RecordingFilter struct {
	Subaccount string
	CallUUID   string
	From, To   string
	AddFrom    time.Time // inclusive
	AddTo      time.Time // exclusive
	Limit      int
	Offset     int
}
