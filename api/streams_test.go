package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/api"
	inapp "github.com/remediator/remediator/notifiers/app"
)

// openStream opens an event stream with the given header names and
// values; a 200 is read up to its first line and left open until the
// test ends.
func (e *env) openStream(hdr ...string) (int, string, context.CancelFunc) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	e.t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, "GET", e.srv.URL+"/api/v1/events", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		defer resp.Body.Close()
		b := new(strings.Builder)
		_, _ = bufio.NewReader(resp.Body).WriteTo(b)
		return resp.StatusCode, b.String(), cancel
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "retry:") {
		e.t.Fatalf("stream starts with %q: %v", line, err)
	}
	return 200, "", cancel
}

// TestStreamBounds: one token, and one console session, hold at most
// api.StreamsPerCredential event streams, and one address at most
// api.StreamsPerAddress; past that a 429 says why. Others keep theirs,
// and a closed stream frees its slot.
func TestStreamBounds(t *testing.T) {
	sessions := fakeSessions{}
	for i := range api.StreamsPerAddress/api.StreamsPerCredential + 1 {
		sessions[fmt.Sprintf("cookie-%d", i)] = struct {
			name string
			role api.Role
			csrf string
		}{"val", api.RoleViewer, fmt.Sprintf("csrf-%d", i)}
	}
	hub := inapp.NewHub(inapp.HubOptions{})
	t.Cleanup(hub.Close)
	e := newEnvWith(t, true, func(o *api.Options) { o.Events = hub; o.Sessions = sessions })
	bearer := []string{"Authorization", "Bearer " + viewerToken}
	var first context.CancelFunc
	for i := range api.StreamsPerCredential {
		status, body, cancel := e.openStream(bearer...)
		if status != 200 {
			t.Fatalf("stream %d: %d %s", i+1, status, body)
		}
		if i == 0 {
			first = cancel
		}
	}
	status, body, _ := e.openStream(bearer...)
	if status != 429 || !strings.Contains(errorOf(t, []byte(body)), `too many event streams: token val has 8 open, the most one credential may hold`) {
		t.Fatalf("one stream too many: %d %s", status, body)
	}
	// Another token still gets one.
	if status, body, _ := e.openStream("Authorization", "Bearer "+adminToken); status != 200 {
		t.Fatalf("another token: %d %s", status, body)
	}
	// A closed stream frees its slot.
	first()
	deadline := time.Now().Add(5 * time.Second)
	for {
		status, body, _ := e.openStream(bearer...)
		if status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing one: %d %s", status, body)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Sessions of one person are bounded one by one, and all of them by
	// the address: 9 streams are open from 127.0.0.1, so 55 more fit.
	open := api.StreamsPerCredential + 1
	for i := 0; open < api.StreamsPerAddress; i++ {
		cookie := []string{"Cookie", fmt.Sprintf("remediator_session=cookie-%d", i/api.StreamsPerCredential)}
		if status, body, _ := e.openStream(cookie...); status != 200 {
			t.Fatalf("session stream %d (%d open): %d %s", i, open, status, body)
		}
		open++
	}
	status, body, _ = e.openStream("Cookie", fmt.Sprintf("remediator_session=cookie-%d", api.StreamsPerAddress/api.StreamsPerCredential))
	if status != 429 || !strings.Contains(errorOf(t, []byte(body)), "too many event streams: 127.0.0.1 has 64 open, the most one address may hold") {
		t.Fatalf("one stream too many for the address: %d %s", status, body)
	}
	if n := hub.Subscribers(); n != api.StreamsPerAddress {
		t.Fatalf("%d subscribers", n)
	}
}
