// Package trunkline is the domain core: the records the platform keeps (accounts,
// applications, numbers, endpoints, messages, calls, recordings, console users), their
// states, and one error type with a small set of codes that every edge maps once — to an
// HTTP status in api and console, a SIP status in voice, a command_status in smpp and
// message.
//
// It depends on the standard library only. The store (SQLite or PostgreSQL) implements the
// persistence of these records; services and front ends speak in them. This follows
// benbjohnson/wtf: the domain at the module root, adapters in packages named for what they
// connect to.
package trunkline
