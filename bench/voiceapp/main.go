// Command voiceapp is the customer application of the voice benchmark
// (bench/voice.sh): a local HTTP server whose answer_url returns
//
//	<Response><Play>{self}/prompt.wav</Play><Hangup/></Response>
//
// with a -seconds long 440 Hz prompt (8 kHz mono WAV, served from memory),
// and whose hangup_url counts completed calls by cause. Each call's answer
// fetch is therefore part of what the benchmark measures. -hold switches the
// answer to <Wait length="N"/> so calls stay up (concurrency runs); -dial
// NUMBER to <Dial><Number>NUMBER</Number></Dial>, bridging the call to a trunk
// (bench/calls.sh).
//
// It prints "voiceapp listening on http://ADDR" when ready and, on SIGTERM
// or SIGINT, the counts: answers, hangups by HangupCauseName.
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on")
	seconds := flag.Float64("seconds", 3, "prompt length")
	hold := flag.Int("hold", 0, "answer with <Wait length=N> instead of the prompt (seconds)")
	dial := flag.String("dial", "", "answer with <Dial><Number>NUMBER</Number></Dial> instead of the prompt")
	flag.Parse()

	wav := tone(*seconds)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	base := "http://" + ln.Addr().String()
	var answers atomic.Int64
	var mu sync.Mutex
	causes := map[string]int{}
	mux := http.NewServeMux()
	mux.HandleFunc("/answer", func(w http.ResponseWriter, r *http.Request) {
		answers.Add(1)
		w.Header().Set("Content-Type", "text/xml")
		if *dial != "" {
			fmt.Fprintf(w, `<Response><Dial><Number>%s</Number></Dial></Response>`, *dial)
			return
		}
		if *hold > 0 {
			fmt.Fprintf(w, `<Response><Wait length="%d"/><Hangup/></Response>`, *hold)
			return
		}
		fmt.Fprintf(w, `<Response><Play>%s/prompt.wav</Play><Hangup/></Response>`, base)
	})
	mux.HandleFunc("/prompt.wav", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "audio/wav")
		w.Write(wav)
	})
	mux.HandleFunc("/hangup", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		causes[r.Form.Get("HangupCauseName")]++
		mu.Unlock()
	})
	go http.Serve(ln, mux)
	fmt.Printf("voiceapp listening on %s\n", base)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	mu.Lock()
	defer mu.Unlock()
	names := make([]string, 0, len(causes))
	total := 0
	for k, v := range causes {
		names = append(names, k)
		total += v
	}
	sort.Strings(names)
	fmt.Printf("answers=%d hangups=%d\n", answers.Load(), total)
	for _, k := range names {
		fmt.Printf("  hangup %q: %d\n", k, causes[k])
	}
}

// tone is an 8 kHz 16-bit mono WAV of a 440 Hz tone at -12 dBFS.
func tone(seconds float64) []byte {
	n := int(seconds * 8000)
	var data bytes.Buffer
	for i := 0; i < n; i++ {
		binary.Write(&data, binary.LittleEndian, int16(8200*math.Sin(2*math.Pi*440*float64(i)/8000)))
	}
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+data.Len()))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(8000), uint32(16000), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}
