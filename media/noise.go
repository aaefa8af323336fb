package media

import "github.com/trunkline/trunkline/audio"

// noiseFrames is a second of comfort noise, encoded once per codec and shared
// by every call: between prompts each call sends these (starting at a random
// frame) instead of generating and encoding noise 50 times a second.
var noiseFrames = func() (f [2][50][frameSamples]byte) {
	cn := audio.NewComfortNoise(audio.DefaultComfortNoiseLevel, 1)
	var pcm [frameSamples]int16
	for i := range f[0] {
		cn.Fill(pcm[:])
		audio.EncodeMulaw(f[0][i][:0], pcm[:])
		audio.EncodeAlaw(f[1][i][:0], pcm[:])
	}
	return f
}()
