// Command loadgen measures webhook ingest: it posts 100-alert Alertmanager
// webhooks over loopback with N concurrent senders, first to a bare
// handler that only decodes the JSON and answers 200, then to a real
// remediator (durable bbolt ingest) in the same process, and prints
// alerts/s, p50/p99 accept latency and the ratio of the two.
//
// The load is bounded by -requests and -duration.
package main

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/app"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type options struct {
	senders, alerts, requests int
	duration                  time.Duration
}

func run() error {
	var o options
	flag.IntVar(&o.senders, "senders", 8, "concurrent senders")
	flag.IntVar(&o.alerts, "alerts", 100, "alerts per webhook")
	flag.IntVar(&o.requests, "requests", 1500, "webhooks per target (upper bound)")
	flag.DurationVar(&o.duration, "duration", 20*time.Second, "time per target and round (upper bound)")
	rounds := flag.Int("rounds", 3, "rounds, alternating bare and durable; medians are reported")
	configFile := flag.String("config", "", "remediator config for the durable side (default: the embedded default)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.Parse()
	if o.senders < 1 || o.alerts < 1 || o.requests < 1 || o.duration <= 0 || *rounds < 1 || *rounds > 10 {
		return errors.New("-senders, -alerts, -requests and -duration must be positive, -rounds from 1 to 10")
	}

	bodies := make([][]byte, o.requests)
	for i := range bodies {
		bodies[i] = payload(i, o.alerts)
	}
	fmt.Printf("%d webhooks × %d alerts (%d KiB each), %d senders, GOMAXPROCS=%d\n",
		o.requests, o.alerts, len(bodies[0])>>10, o.senders, runtime.GOMAXPROCS(0))

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var bare, durable []result
	for r := 0; r < *rounds; r++ {
		b, err := runBare(bodies, o)
		if err != nil {
			return fmt.Errorf("bare: %w", err)
		}
		d, err := runDurable(*configFile, bodies, o)
		if err != nil {
			return fmt.Errorf("durable: %w", err)
		}
		fmt.Printf("round %d: bare %.0f alerts/s, durable %.0f alerts/s (p99 %s)\n", r+1, b.alertsPerSec, d.alertsPerSec, d.p99.Round(time.Microsecond))
		bare, durable = append(bare, b), append(durable, d)
	}
	mb, md := median(bare), median(durable)
	fmt.Printf("\nmedian of %d rounds:\n%-10s %12s %10s %10s %9s\n", *rounds, "target", "alerts/s", "p50", "p99", "webhooks")
	for _, r := range []result{mb, md} {
		fmt.Printf("%-10s %12.0f %10s %10s %9d\n", r.name, r.alertsPerSec, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.requests)
	}
	fmt.Printf("durable/bare ratio: %.2f\n", md.alertsPerSec/mb.alertsPerSec)
	return nil
}

// median returns the round with the median alerts/s.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.alertsPerSec, b.alertsPerSec) })
	return s[len(s)/2]
}

func runBare(bodies [][]byte, o options) (result, error) {
	url, stop, err := startBare()
	if err != nil {
		return result{}, err
	}
	defer stop()
	return load("bare", url, bodies, o)
}

// runDurable measures a fresh remediator on a fresh bbolt file.
func runDurable(configFile string, bodies [][]byte, o options) (result, error) {
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	url, stop, err := startDurable(configFile, filepath.Join(dir, "remediator.db"))
	if err != nil {
		return result{}, err
	}
	defer stop()
	return load("durable", url, bodies, o)
}

// startBare serves a handler that only decodes the webhook and answers 200.
func startBare() (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := api.DecodeWebhook(http.MaxBytesReader(w, r.Body, 8<<20)); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"status":"stored"}`+"\n")
	}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String() + "/api/v1/webhook", func() { _ = srv.Close() }, nil
}

// startDurable runs a real remediator on a config file or the embedded default.
func startDurable(configFile, db string) (string, func(), error) {
	a, err := app.New(context.Background(), app.Options{ConfigFile: configFile, Listen: "127.0.0.1:0", DBPath: db, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Run(ctx); close(done) }()
	return "http://" + a.Addr() + "/api/v1/webhook", func() { cancel(); <-done }, nil
}

type result struct {
	name         string
	alertsPerSec float64
	p50, p99     time.Duration
	requests     int
}

func load(name, url string, bodies [][]byte, o options) (result, error) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.senders, MaxConnsPerHost: o.senders}, Timeout: 30 * time.Second}
	var (
		next    atomic.Int64
		mu      sync.Mutex
		lat     []time.Duration
		firstEr error
		wg      sync.WaitGroup
	)
	deadline := time.Now().Add(o.duration)
	start := time.Now()
	for s := 0; s < o.senders; s++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				if int(i) >= len(bodies) {
					break
				}
				t0 := time.Now()
				resp, err := client.Post(url, "application/json", bytes.NewReader(bodies[i]))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
				}
				if err != nil {
					mu.Lock()
					if firstEr == nil {
						firstEr = err
					}
					mu.Unlock()
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	client.CloseIdleConnections()
	if firstEr != nil {
		return result{}, firstEr
	}
	slices.Sort(lat)
	return result{
		name:         name,
		alertsPerSec: float64(len(lat)*o.alerts) / elapsed.Seconds(),
		p50:          lat[len(lat)/2],
		p99:          lat[min(len(lat)-1, len(lat)*99/100)],
		requests:     len(lat),
	}, nil
}

// payload is webhook i with n distinct alerts: every webhook brings new
// episodes, so the durable side does full ingest work, not redelivery.
func payload(i, n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"version":"4","groupKey":"{}:{alertname=\"Load%d\"}","truncatedAlerts":0,"status":"firing","receiver":"remediator",`, i%64)
	fmt.Fprintf(&b, `"groupLabels":{"alertname":"Load%d"},"commonLabels":{"alertname":"Load%d","severity":"warning"},"commonAnnotations":{},"externalURL":"http://alertmanager:9093","alerts":[`, i%64, i%64)
	for j := 0; j < n; j++ {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"status":"firing","labels":{"alertname":"Load%d","severity":"warning","instance":"host-%d-%d:9100","job":"node","service":"game-api","region":"eu-1"},`, i%64, i, j)
		fmt.Fprintf(&b, `"annotations":{"summary":"load high on host-%d-%d","description":"1m load average above 12 for 5 minutes"},`, i, j)
		fmt.Fprintf(&b, `"startsAt":"2026-11-25T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph?g0.expr=node_load1","fingerprint":"%08x%08x"}`, i, j)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}
