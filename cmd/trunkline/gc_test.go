package main

import (
	"runtime/debug"
	"testing"
)

// TestSetGCPercent: the server's collector target applies only when GOGC is unset.
func TestSetGCPercent(t *testing.T) {
	old := debug.SetGCPercent(100)
	defer debug.SetGCPercent(old)
	setGCPercent("50")
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set: percent %d, want it left at 100", got)
	}
	setGCPercent("")
	if got := debug.SetGCPercent(100); got != serverGCPercent {
		t.Errorf("without GOGC: percent %d, want %d", got, serverGCPercent)
	}
}
