package voice

import (
	"context"
	"strings"
	"time"

	"github.com/trunkline/trunkline/plivoxml"
)

// <GetInput>: GetDigits' newer form. Key presses are collected; speech needs a
// recogniser this server does not have.
func init() {
	register(handler[plivoxml.GetInput]{needsAnswer: true, run: runGetInput})
}

func runGetInput(ctx context.Context, c *Call, e plivoxml.GetInput, _ bool) (*plivoxml.Response, error) {
	if !strings.Contains(e.InputType, "dtmf") {
		c.hangup(CauseUnsupported, "GetInput inputType=\"speech\" needs speech recognition, which this server does not have")
		return nil, errStop
	}
	// Speech in "dtmf speech" is not recognised; key presses are.
	digitTimeout := e.DigitEndTimeout
	if digitTimeout == 0 {
		digitTimeout = 5 * time.Second
	}
	numDigits := e.NumDigits
	if numDigits == 0 {
		numDigits = 99
	}
	return c.getDigits(ctx, digitSpec{
		action: e.Action, method: e.Method, timeout: e.ExecutionTimeout, digitTimeout: digitTimeout,
		finishOnKey: e.FinishOnKey, numDigits: numDigits, retries: 1, redirect: e.Redirect,
		validDigits: "1234567890*#", prompts: e.Children, input: true,
	})
}
