package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSIGKILLUnderLoadLosesNoAcceptedAlert kills the server with SIGKILL
// while senders post webhooks, restarts it on the same bbolt file, and
// checks that every alert whose webhook got a 200 is there.
func TestSIGKILLUnderLoadLosesNoAcceptedAlert(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "remediator.db")
	p, base := startRemediator(t, nil, "--listen", "127.0.0.1:0", "--db", db)

	const (
		senders      = 8
		alertsPerReq = 10
		maxRequests  = 5000 // bound on the whole load
	)
	var (
		mu       sync.Mutex
		accepted = map[string]bool{} // fingerprints whose webhook got a 200
		seq      atomic.Int64
		ok       atomic.Int64
	)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for s := 0; s < senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				n := seq.Add(1)
				if n > maxRequests {
					return
				}
				body, fps := durabilityPayload(n, alertsPerReq)
				resp, err := client.Post(base+"/api/v1/webhook", "application/json", bytes.NewReader(body))
				if err != nil {
					continue // killed mid-request: not accepted, may or may not be stored
				}
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					mu.Lock()
					for _, fp := range fps {
						accepted[fp] = true
					}
					mu.Unlock()
					ok.Add(1)
				}
			}
		}()
	}
	// Kill while the load is running: after 200 accepted requests.
	waitFor(t, 30*time.Second, "200 accepted webhooks", func() bool { return ok.Load() >= 200 })
	p.kill()
	killedAt := ok.Load()
	cancel()
	wg.Wait()
	if int(killedAt) >= maxRequests {
		t.Fatalf("the load ended before the kill")
	}

	_, base = startRemediator(t, nil, "--listen", "127.0.0.1:0", "--db", db)
	stored := map[string]bool{}
	cursor := ""
	for {
		url := base + "/api/v1/alerts?limit=500"
		if cursor != "" {
			url += "&cursor=" + cursor
		}
		status, body := request(t, "GET", url, "", nil)
		if status != 200 {
			t.Fatalf("list alerts: %d %s", status, body)
		}
		var page struct {
			Alerts     []struct{ Fingerprint string }
			NextCursor string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Alerts {
			stored[a.Fingerprint] = true
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	missing := 0
	for fp := range accepted {
		if !stored[fp] {
			missing++
		}
	}
	t.Logf("accepted %d alerts before SIGKILL, %d stored after restart", len(accepted), len(stored))
	if missing > 0 || len(accepted) < 200*alertsPerReq {
		t.Fatalf("%d of %d accepted alerts are missing after SIGKILL and restart", missing, len(accepted))
	}
}

// durabilityPayload is webhook n with k alerts of unique fingerprints.
func durabilityPayload(n int64, k int) ([]byte, []string) {
	type alert struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		StartsAt    string            `json:"startsAt"`
		Fingerprint string            `json:"fingerprint"`
	}
	var alerts []alert
	var fps []string
	for i := 0; i < k; i++ {
		fp := fmt.Sprintf("%08x%08x", n, i)
		fps = append(fps, fp)
		alerts = append(alerts, alert{Status: "firing", Labels: map[string]string{"alertname": "Load", "n": fmt.Sprint(n), "i": fmt.Sprint(i)},
			StartsAt: "2026-11-25T10:00:00Z", Fingerprint: fp})
	}
	body, _ := json.Marshal(map[string]any{"version": "4", "receiver": "load", "groupKey": fmt.Sprintf("g%d", n%50), "status": "firing", "alerts": alerts})
	return body, fps
}
