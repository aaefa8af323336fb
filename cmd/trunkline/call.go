package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/diago"
	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"github.com/trunkline/trunkline/audio"
)

// cmdCall places a test call into a running server through its sandbox
// trunk, as a SIP phone would: it prints what happens (answer, how much
// speech it heard, the hang-up), can press keys, and can save what it heard.
func cmdCall(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("call", flag.ContinueOnError)
	fs.SetOutput(stderr)
	to := fs.String("to", "", "the rented number to call (digits)")
	from := fs.String("from", "15550100000", "the caller's number")
	server := fs.String("server", "127.0.0.1:5060", "the server's SIP address")
	digits := fs.String("digits", "", "keys to press once answered (RFC 4733)")
	after := fs.Duration("digits-after", 2*time.Second, "when to press them, after the answer")
	max := fs.Duration("max", 60*time.Second, "hang up after this long")
	save := fs.String("save", "", "write what was heard to this WAV file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *to == "" || fs.NArg() > 0 {
		return usageError("call needs --to NUMBER")
	}
	host, portStr, err := net.SplitHostPort(*server)
	if err != nil {
		return usageError("--server must be host:port")
	}
	port, _ := strconv.Atoi(portStr)
	// diago puts the user agent's name in the From user part: that is how the
	// caller's number gets there.
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(*from))
	if err != nil {
		return err
	}
	defer ua.Close()
	dg := diago.NewDiago(ua, diago.WithTransport(diago.Transport{Transport: "udp", BindHost: "127.0.0.1", BindPort: 0}))
	cctx, cancel := context.WithTimeout(ctx, *max)
	defer cancel()
	if err := dg.ServeBackground(cctx, func(*diago.DialogServerSession) {}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "calling %s at %s ...\n", *to, *server)
	start := time.Now()
	d, med, err := dg.Invite(cctx, sip.Uri{User: *to, Host: host, Port: port},
		diago.InviteOptions{})
	if err != nil {
		var re *sipgo.ErrDialogResponse
		if errors.As(err, &re) {
			return fmt.Errorf("the server refused the call: %d %s", re.Res.StatusCode, re.Res.Reason)
		}
		return fmt.Errorf("call failed: %w", err)
	}
	defer d.Close()
	fmt.Fprintf(stdout, "answered after %s\n", time.Since(start).Round(time.Millisecond))
	r, err := med.AudioReader()
	if err != nil {
		return err
	}
	var (
		mu    sync.Mutex
		heard []int16
	)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 1500)
		for {
			n, err := r.Read(buf)
			if err != nil {
				return
			}
			mu.Lock()
			heard = audio.DecodeMulaw(heard, buf[:n])
			mu.Unlock()
		}
	}()
	if *digits != "" {
		go func() {
			t := time.NewTimer(*after)
			defer t.Stop()
			select {
			case <-t.C:
			case <-cctx.Done():
				return
			}
			w, err := med.AudioWriterDTMF()
			if err != nil {
				fmt.Fprintln(stderr, "cannot press keys:", err)
				return
			}
			for _, k := range *digits {
				w.WriteDTMF(k)
			}
			fmt.Fprintf(stdout, "pressed %d key(s)\n", len(*digits))
		}()
	}
	byServer := false
	select {
	case <-d.Context().Done():
		byServer = true
	case <-cctx.Done():
		hctx, c2 := context.WithTimeout(context.Background(), 3*time.Second)
		d.Hangup(hctx)
		c2()
	}
	med.Close()
	select {
	case <-readDone:
	case <-time.After(2 * time.Second):
	}
	mu.Lock()
	pcm := heard
	mu.Unlock()
	speech := 0
	for f := range audio.Frames(pcm) {
		if audio.Level(f) > -40 {
			speech++
		}
	}
	who := "we hung up"
	if byServer {
		who = "the server hung up"
	}
	fmt.Fprintf(stdout, "%s after %s; heard %.1f s of audio, %.1f s of it speech or tones\n",
		who, time.Since(start).Round(time.Millisecond), float64(len(pcm))/audio.SampleRate, float64(speech)*0.02)
	if *save != "" {
		f, err := os.Create(*save)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := audio.WriteWAV(f, pcm); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "saved to %s\n", *save)
	}
	return nil
}
