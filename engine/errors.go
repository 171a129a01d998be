package engine

import "errors"

// Errors the engine returns; check them with errors.Is. The API maps each
// to an HTTP status in one table (api/errors.go).
var (
	// ErrNotFound: no incident (or alert) with that id.
	ErrNotFound = errors.New("not found")
	// ErrConflict: the transition is not allowed from the current status
	// (resolve twice, acknowledge a resolved incident).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the request itself is malformed.
	ErrInvalid = errors.New("invalid")
	// ErrDenied: the request is not allowed whatever the state: a key
	// pressed in a call that is not live, an SMS reply replayed or about
	// an incident its sender was not texted about.
	ErrDenied = errors.New("denied")
)
