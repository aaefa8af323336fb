package store

import "github.com/trunkline/trunkline"

// *DB implements the domain core's services.
var (
	_ trunkline.AccountService     = (*DB)(nil)
	_ trunkline.MemberService      = (*DB)(nil)
	_ trunkline.ApplicationService = (*DB)(nil)
	_ trunkline.NumberService      = (*DB)(nil)
	_ trunkline.EndpointService    = (*DB)(nil)
	_ trunkline.MessageService     = (*DB)(nil)
	_ trunkline.MessageQueue       = (*DB)(nil)
	_ trunkline.CallHistory        = (*DB)(nil)
	_ trunkline.RecordingService   = (*DB)(nil)
	_ trunkline.CallerIDService    = (*DB)(nil)
	_ trunkline.PasskeyService     = (*DB)(nil)
)
