package app_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/app"
)

// TestSlowClientsDoNotStopTheServer runs the App with short read
// timeouts: clients that dribble their headers or their body a byte at a
// time do not keep others from being answered, and the server closes
// their connections when the timeouts run out (sending does not extend
// them).
func TestSlowClientsDoNotStopTheServer(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "r.yml")
	cfg := "server:\n  listen: 127.0.0.1:0\n  read_header_timeout: 2s\n  read_timeout: 2s\n  shutdown_timeout: 5s\n" +
		"storage:\n  path: " + filepath.Join(dir, "r.db") + "\n"
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), app.Options{ConfigFile: file})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})

	stalls := []struct {
		name, send string
		dribble    byte   // then sent every 100ms until the server closes
		answer     string // in the 400 the server sends before it closes ("": no check)
	}{
		// Headers that never end: the header timeout cuts them off (net/http
		// closes without an answer), however busy the client keeps it.
		{"header", "GET /-/healthy HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", 'a', ""},
		// A webhook's headers and the start of its 1000 bytes: the read
		// timeout ends the body; the handler says so.
		{"body", "POST /api/v1/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"receiver\"", ' ', "i/o timeout"},
	}
	stop := make(chan struct{})
	defer close(stop)
	conns := make([]net.Conn, len(stalls))
	for i, s := range stalls {
		c, err := net.Dial("tcp", a.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		if _, err := io.WriteString(c, s.send); err != nil {
			t.Fatal(err)
		}
		conns[i] = c
		go func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := c.Write([]byte{s.dribble}); err != nil {
						return // closed
					}
				}
			}
		}()
	}

	// While both dribble, another client is answered.
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + a.Addr() + "/-/healthy")
	if err != nil {
		t.Fatalf("healthy while two clients stall: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "Healthy.\n" {
		t.Fatalf("healthy: %d %q", resp.StatusCode, body)
	}
	// They were still going then: nothing to read, not closed.
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
		var ne net.Error
		if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("%s: the slow connection was answered or closed before the healthy request (read %d, %v); the timeouts are too short for this machine", stalls[i].name, n, err)
		}
	}

	// The server closes each one although it keeps sending. The deadline
	// only keeps a broken server from hanging the test.
	for i, c := range conns {
		t.Run(stalls[i].name, func(t *testing.T) {
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			got, err := io.ReadAll(c) // nil at EOF: the server closed it
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the server did not close the slow connection (read %q)", got)
			}
			if want := stalls[i].answer; want != "" && (!strings.HasPrefix(string(got), "HTTP/1.1 400 ") || !strings.Contains(string(got), want)) {
				t.Fatalf("read %q (err %v) before the close, want a 400 with %q", got, err, stalls[i].answer)
			}
		})
	}
}
