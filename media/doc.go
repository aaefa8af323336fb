// Package media is Trunkline's media engine: the audio of calls, with no knowledge of
// SIP (no sipgo, no voice, no diago dialogs). It owns
//
//   - Channel: the media of one call on an RTP session — one reader that fans the
//     caller's RTP out (RFC 4733 DTMF detection, taps for recorders and silence
//     detectors), and a writer that sends prompts, queued key presses, a bridged
//     leg's audio (FIFO) and overlays, or comfort noise when nothing plays;
//   - Pacer: the few shared clocks that drive every channel's writer every 20 ms;
//   - FIFO: one leg's audio on its way to another leg's writer (a two-party bridge);
//   - CheckOffer: the look at an SDP offer the signalling layer needs before it answers.
//
// Package voice (SIP signalling, admission, the XML interpreter) opens a Channel on
// each answered call's RTP session and registers it with its Pacer. The conference
// mixer and audio streams (<Conference>, <Stream>) belong here too: they are
// channels' audio mixed and sent elsewhere, and need nothing from SIP.
package media
