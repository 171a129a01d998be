package api

import (
	"fmt"
	"sync"
)

// Bounds of the open event streams (GET /api/v1/events): one credential
// (an API token, one console session, or everyone in open mode) and one
// client address hold at most these many at once, so that nobody can take
// every slot of the hub and silence the console's pop-ups for the others.
// Behind a proxy every client has the proxy's address.
const (
	StreamsPerCredential = 8
	StreamsPerAddress    = 64
)

// streamSlots counts the open streams by credential and by address. It is
// safe for concurrent use.
type streamSlots struct {
	mu     sync.Mutex
	byCred map[string]int
	byAddr map[string]int
}

func newStreamSlots() *streamSlots {
	return &streamSlots{byCred: map[string]int{}, byAddr: map[string]int{}}
}

// take holds a slot for a stream of cred from addr, or says why not; the
// caller gives it back with release.
func (s *streamSlots) take(cred, addr string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.byCred[cred] >= StreamsPerCredential:
		return fmt.Errorf("too many event streams: %s has %d open, the most one credential may hold; close one (another tab?)", cred, StreamsPerCredential)
	case s.byAddr[addr] >= StreamsPerAddress:
		return fmt.Errorf("too many event streams: %s has %d open, the most one address may hold; close one", addr, StreamsPerAddress)
	}
	s.byCred[cred]++
	s.byAddr[addr]++
	return nil
}

func (s *streamSlots) release(cred, addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.byCred[cred]--; s.byCred[cred] <= 0 {
		delete(s.byCred, cred)
	}
	if s.byAddr[addr]--; s.byAddr[addr] <= 0 {
		delete(s.byAddr, addr)
	}
}
