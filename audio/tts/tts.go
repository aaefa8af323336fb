// Package tts turns <Speak> text into 8 kHz 16-bit mono PCM. Synthesizer
// is the seam a cloud engine plugs into; Espeak runs the espeak-ng
// program; Cache keeps results so a prompt is synthesized once.
package tts

import (
	"context"
	"errors"
	"strings"
)

// A Synthesizer speaks text in a Plivo voice ("WOMAN", "MAN" or
// "Polly.Name") and language ("en-US") and returns PCM at audio.SampleRate.
type Synthesizer interface {
	Synthesize(ctx context.Context, text, voice, language string) ([]int16, error)
}

var (
	// ErrUnsupportedVoice means voice is not WOMAN, MAN or Polly.Name.
	ErrUnsupportedVoice = errors.New("tts: unsupported voice")
	// ErrUnsupportedLanguage means the engine has no voice for language.
	ErrUnsupportedLanguage = errors.New("tts: unsupported language")
	// ErrTextTooLong means the text passed the engine's limit.
	ErrTextTooLong = errors.New("tts: text too long")
)

// languages maps Plivo's language codes (lower case) to espeak-ng voices.
// Codes espeak-ng has no exact voice for take the nearest one it has.
var languages = map[string]string{
	"en-us": "en-us", "en-gb": "en-gb", "en-au": "en-gb", "en-in": "en-gb", "en-ca": "en-us",
	"en-ie": "en-gb", "en-nz": "en-gb", "en-za": "en-gb", "en-gb-wls": "en-gb",
	"fr-fr": "fr-fr", "fr-ca": "fr-fr", "fr-be": "fr-be", "fr-ch": "fr-ch",
	"de-de": "de", "de-at": "de", "de-ch": "de",
	"es-es": "es", "es-us": "es-419", "es-mx": "es-419",
	"it-it": "it", "pt-br": "pt-br", "pt-pt": "pt",
	"nl-nl": "nl", "da-dk": "da", "sv-se": "sv", "nb-no": "nb", "is-is": "is",
	"pl-pl": "pl", "ru-ru": "ru", "ro-ro": "ro", "tr-tr": "tr", "cy-gb": "cy",
	"ja-jp": "ja", "ko-kr": "ko", "zh-cn": "cmn", "cmn-cn": "cmn", "yue-cn": "yue",
	"arb": "ar", "ar-ae": "ar", "hi-in": "hi",
}

// Amazon Polly voices Plivo offers that are male; any other Polly.Name is
// spoken with the female variant.
var pollyMale = map[string]bool{
	"matthew": true, "joey": true, "justin": true, "kevin": true, "brian": true, "russell": true,
	"geraint": true, "mathieu": true, "hans": true, "enrique": true, "miguel": true, "giorgio": true,
	"ricardo": true, "cristiano": true, "ruben": true, "mads": true, "jacek": true, "jan": true,
	"maxim": true, "takumi": true, "liam": true, "stephen": true, "gregory": true,
	"arthur": true, "daniel": true, "remi": true, "sergio": true, "andres": true, "pedro": true,
	"thiago": true, "adriano": true, "zhiyu": false, "karl": true, "aria": false,
}

// EspeakVoice maps a Plivo voice and language to an espeak-ng voice name
// such as "en-us+f3" (female variant) or "fr-fr+m3" (male).
func EspeakVoice(voice, language string) (string, error) {
	var variant string
	switch v := voice; {
	case strings.EqualFold(v, "WOMAN") || v == "":
		variant = "+f3"
	case strings.EqualFold(v, "MAN"):
		variant = "+m3"
	case strings.HasPrefix(v, "Polly.") && len(v) > len("Polly."):
		variant = "+f3"
		if pollyMale[strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(v, "Polly."), "-Neural"))] {
			variant = "+m3"
		}
	default:
		return "", ErrUnsupportedVoice
	}
	lang := strings.ToLower(language)
	if lang == "" {
		lang = "en-us"
	}
	name, ok := languages[lang]
	if !ok {
		return "", ErrUnsupportedLanguage
	}
	return name + variant, nil
}
