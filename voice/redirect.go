package voice

import (
	"context"

	"github.com/trunkline/trunkline/plivoxml"
)

// <Redirect>: hand the call over to another URL's XML.
func init() {
	register(handler[plivoxml.Redirect]{run: func(ctx context.Context, c *Call, e plivoxml.Redirect, _ bool) (*plivoxml.Response, error) {
		return c.fetch(ctx, "redirect", e.URL, e.Method, c.params(c.status()))
	}})
}
