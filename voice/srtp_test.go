package voice_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"
	"github.com/pion/srtp/v3"

	"github.com/trunkline/trunkline"
	"github.com/trunkline/trunkline/audio"
	"github.com/trunkline/trunkline/certs"
	"github.com/trunkline/trunkline/internal/rtpobs"
)

// SIP over TLS with SDES-SRTP: the server answers an RTP/SAVP offer with its
// own key, the payload on the wire is not PCMU (it does not decode to the
// prompt), and decrypted with the key from the server's answer it is the
// spoken prompt. The same offer over UDP is refused (keys in the clear).
func TestTLSWithSRTP(t *testing.T) {
	dir := t.TempDir()
	gen, err := certs.EnsureSelfSigned(dir, dir, []string{"127.0.0.1", "localhost"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := certs.ServerConfig(gen.CertPath, gen.KeyPath)
	if err != nil {
		t.Fatal(err)
	}
	s := newStack(t, stackOptions{tls: srvTLS})
	s.app.set("/answer", `<Response><Speak>This call is encrypted</Speak><Wait length="5"/></Response>`)
	s.app.set("/hangup", "ok")

	obs := rtpobs.Listen(t)
	key := make([]byte, 30)
	rand.Read(key)
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(obs.Port()) + " RTP/SAVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n" +
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.StdEncoding.EncodeToString(key) + "\r\n"

	// Over UDP the SRTP offer is refused.
	if got := rawSIP(t, s.srv.Addr().String(), inviteRequest(s.srv.Addr().String(), s.number, "application/sdp", offer)); got != 488 {
		t.Fatalf("SRTP offer over UDP: %d, want 488", got)
	}
	// The account requires TLS + SRTP (secure_voice): a plain call is refused;
	// the encrypted one below goes through.
	on := true
	if _, err := s.db.UpdateAccount(t.Context(), s.acct.Account.ID, trunkline.AccountUpdate{SecureVoice: &on}); err != nil {
		t.Fatal(err)
	}
	plainOffer := strings.Replace(strings.Replace(offer, "RTP/SAVP", "RTP/AVP", 1), "a=crypto", "a=x-crypto", 1)
	if got := rawSIP(t, s.srv.Addr().String(), inviteRequest(s.srv.Addr().String(), s.number, "application/sdp", plainOffer)); got != 488 {
		t.Fatalf("plain call to a secure_voice account: %d, want 488", got)
	}

	caPEM, _ := os.ReadFile(gen.CAPath)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("srtp-phone"), sipgo.WithUserAgenTLSConfig(&tls.Config{RootCAs: pool}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ua.Close() })
	cl, err := sipgo.NewClient(ua)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(s.srv.TLSAddr().String())
	p, _ := strconv.Atoi(port)
	params := sip.NewParams()
	params.Add("transport", "tls")
	dua := sipgo.DialogUA{Client: cl, ContactHDR: sip.ContactHeader{Address: sip.Uri{User: "phone", Host: "127.0.0.1", Port: 5061}}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sess, err := dua.Invite(ctx, sip.Uri{User: s.number, Host: host, Port: p, UriParams: params}, []byte(offer),
		sip.NewHeader("Content-Type", "application/sdp"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sess.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	answer := string(sess.InviteResponse.Body())
	if !strings.Contains(answer, "RTP/SAVP") {
		t.Fatalf("answer is not SRTP:\n%s", answer)
	}
	var theirKey []byte
	for _, l := range strings.Split(answer, "\n") {
		if _, rest, ok := strings.Cut(strings.TrimSpace(l), "inline:"); ok {
			theirKey, _ = base64.StdEncoding.DecodeString(strings.SplitN(rest, "|", 2)[0])
		}
	}
	if len(theirKey) != 30 {
		t.Fatalf("no usable a=crypto key in the answer:\n%s", answer)
	}
	if err := obs.WaitPackets(ctx, 100); err != nil { // 2 s of the prompt
		t.Fatal(err)
	}
	sess.Bye(ctx)

	// On the wire: not PCMU. Read as PCMU the packets are noise at full
	// scale, nothing like a prompt with pauses.
	wire := obs.Snapshot()
	dec, err := srtp.CreateContext(theirKey[:16], theirKey[16:], srtp.ProtectionProfileAes128CmHmacSha1_80)
	if err != nil {
		t.Fatal(err)
	}
	var plain []int16
	for _, pk := range wire {
		h := rtp.Header{Version: 2, PayloadType: pk.PayloadType, Marker: pk.Marker, SequenceNumber: pk.Seq, Timestamp: pk.Timestamp, SSRC: pk.SSRC}
		hb, _ := h.Marshal()
		out, err := dec.DecryptRTP(nil, append(hb, pk.Payload...), nil)
		if err != nil {
			t.Fatalf("packet %d does not decrypt with the answer's key: %v", pk.Seq, err)
		}
		var rp rtp.Packet
		if err := rp.Unmarshal(out); err != nil {
			t.Fatal(err)
		}
		if rp.PayloadType == 0 {
			plain = audio.DecodeMulaw(plain, rp.Payload)
		}
	}
	if f := speechFraction(plain); f < 0.3 {
		t.Fatalf("decrypted audio: speech in %.0f%%; want the prompt", f*100)
	}
	// The raw payloads are ciphertext: the same bytes read as PCMU are loud
	// in every frame (no pauses, no comfort-noise frames), unlike the prompt.
	raw := obs.PCM()
	if q := quietFraction(raw); q > 0.05 {
		t.Fatalf("%.0f%% of the on-wire frames are quiet as PCMU: the payload looks unencrypted", q*100)
	}
	if q := quietFraction(plain); q < 0.05 {
		t.Fatalf("the decrypted prompt has no quiet frames (%.0f%%): the check above proves nothing", q*100)
	}
}

func quietFraction(pcm []int16) float64 {
	n, quiet := 0, 0
	for f := range audio.Frames(pcm) {
		n++
		if audio.Level(f) < -40 {
			quiet++
		}
	}
	if n == 0 {
		return 0
	}
	return float64(quiet) / float64(n)
}
