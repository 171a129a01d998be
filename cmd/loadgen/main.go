// Command loadgen measures webhook ingest: it posts 100-alert Alertmanager
// webhooks over loopback with N concurrent senders, first to a bare
// handler that only decodes the JSON and answers 200, then to a real
// remediator (durable bbolt ingest) in the same process, and prints
// alerts/s, p50/p99 accept latency, the CPU each webhook cost and the
// ratio of the two.
//
// With -layers it also measures three remediators that leave out part of
// the durable path, to show where the time goes: "engine" keeps its state
// in memory and writes nothing (the store's Apply returns at once),
// "no-fsync" writes to bbolt without fsync, and "one-record" commits one
// 8-byte record to a bbolt file of its own, fsynced, in place of each
// write: the floor of any design that fsyncs bbolt before answering. None
// keeps the promise a 200 makes; they exist only here.
//
// The load is bounded by -requests and -duration.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.etcd.io/bbolt"

	"github.com/remediator/remediator/api"
	"github.com/remediator/remediator/app"
	"github.com/remediator/remediator/engine"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); errors.Is(err, flag.ErrHelp) {
		return
	} else if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

type options struct {
	senders, alerts, requests int
	duration                  time.Duration
}

// target is one server under load: start returns its webhook URL, its
// metrics URL ("" for none) and how to stop it.
type target struct {
	name  string
	procs int // GOMAXPROCS while it runs
	start func() (url, metrics string, stop func() error, err error)
}

func run(args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&o.senders, "senders", 8, "concurrent senders")
	fs.IntVar(&o.alerts, "alerts", 100, "alerts per webhook")
	fs.IntVar(&o.requests, "requests", 1500, "webhooks per target (upper bound)")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "time per target and round (upper bound)")
	rounds := fs.Int("rounds", 3, "rounds, each running every target in turn; medians are reported")
	configFile := fs.String("config", "", "remediator config for the durable side (default: the embedded default)")
	layers := fs.Bool("layers", false, "also measure remediator without the store's writes (engine), without fsync (no-fsync) and with one fsynced record per write (one-record)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	churn := fs.Bool("churn", false, "instead: fire and resolve new alerts for -churn-days simulated days with a short retention, printing memory and file size each day")
	var co churnOptions
	fs.IntVar(&co.days, "churn-days", 10, "simulated days of the churn run")
	fs.DurationVar(&co.every, "churn-every", 2*time.Minute, "a new group fires this often (simulated)")
	fs.IntVar(&co.alerts, "churn-alerts", 50, "alerts per group in the churn run")
	fs.DurationVar(&co.lives, "churn-lives", 10*time.Minute, "how long each group fires before it resolves (simulated)")
	live := fs.Int("live", 0, "instead: hold this many firing alerts (100 per incident), print peak RSS, then time a restart")
	memProfile := fs.String("memprofile", "", "with -live: write a heap profile with the live alerts held to this file")
	liveDB := fs.String("live-db", "", "with -live: write the bbolt file here and keep it (it must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
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
	switch {
	case *churn:
		if co.days < 1 || co.days > 100 || co.every <= 0 || co.alerts < 1 || co.alerts > 1000 || co.lives <= 0 {
			return errors.New("-churn-days from 1 to 100, -churn-every and -churn-lives positive, -churn-alerts from 1 to 1000")
		}
		return runChurn(out, co)
	case *live < 0 || *live > 10_000_000:
		return errors.New("-live from 1 to 10,000,000")
	case *live > 0:
		if *liveDB != "" {
			if _, err := os.Stat(*liveDB); err == nil {
				return fmt.Errorf("-live-db %s exists", *liveDB)
			}
		}
		return runLive(out, *live, *liveDB, *memProfile)
	}
	if o.senders < 1 || o.alerts < 1 || o.requests < 1 || o.duration <= 0 || *rounds < 1 || *rounds > 10 {
		return errors.New("-senders, -alerts, -requests and -duration must be positive, -rounds from 1 to 10")
	}

	// Each target runs with the GOMAXPROCS it would have on its own: the
	// bare handler the runtime's, a remediator one more (as remediator
	// serve sets it: app.AddSpareProc). A CPU-bound handler only pays for
	// a third P on two cores.
	bareProcs, remProcs := runtime.GOMAXPROCS(0), app.SpareProcs(os.LookupEnv)
	defer runtime.GOMAXPROCS(bareProcs)
	bodies := make([][]byte, o.requests)
	for i := range bodies {
		bodies[i] = payload(i, o.alerts)
	}
	fmt.Fprintf(out, "%d webhooks × %d alerts (%d KiB each), %d senders, GOMAXPROCS %d for bare, %d for remediator\n",
		o.requests, o.alerts, len(bodies[0])>>10, o.senders, bareProcs, remProcs)

	targets := []target{{"bare", bareProcs, startBare}}
	if *layers {
		targets = append(targets,
			target{"engine", remProcs, func() (string, string, func() error, error) {
				url, _, stop, err := startDurable(app.Options{ConfigFile: *configFile, WrapStore: discardWrites})
				return url, "", stop, err // no bbolt commits to count
			}},
			target{"no-fsync", remProcs, func() (string, string, func() error, error) {
				return startDurable(app.Options{ConfigFile: *configFile, StoreNoSync: true})
			}},
			target{"one-record", remProcs, func() (string, string, func() error, error) {
				return startOneRecord(*configFile)
			}})
	}
	targets = append(targets, target{"durable", remProcs, func() (string, string, func() error, error) {
		return startDurable(app.Options{ConfigFile: *configFile})
	}})

	results := make([][]result, len(targets))
	for r := 0; r < *rounds; r++ {
		line := fmt.Sprintf("round %d:", r+1)
		for i, t := range targets {
			res, err := measure(t, bodies, o)
			if err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			results[i] = append(results[i], res)
			line += fmt.Sprintf(" %s %.0f alerts/s;", t.name, res.alertsPerSec)
		}
		fmt.Fprintln(out, strings.TrimSuffix(line, ";"))
	}
	fmt.Fprintf(out, "\nmedian of %d rounds:\n%-10s %9s %9s %9s %6s %10s %12s %8s %7s\n", *rounds,
		"target", "alerts/s", "p50", "p99", "cores", "CPU/hook", "commits/hook", "webhooks", "ratio")
	bare := median(results[0]).alertsPerSec
	for i := range targets {
		m := median(results[i])
		commits := "-"
		if m.commits >= 0 {
			commits = fmt.Sprintf("%.2f", m.commits)
		}
		fmt.Fprintf(out, "%-10s %9.0f %9s %9s %6.2f %8.2fms %12s %8d %7.2f\n", m.name, m.alertsPerSec,
			m.p50.Round(10*time.Microsecond), m.p99.Round(10*time.Microsecond), m.cores, m.cpuPerHook,
			commits, m.requests, m.alertsPerSec/bare)
	}
	fmt.Fprintf(out, "durable/bare ratio: %.2f\n", median(results[len(targets)-1]).alertsPerSec/bare)
	return nil
}

// median returns the round with the median alerts/s.
func median(rs []result) result {
	s := slices.Clone(rs)
	slices.SortFunc(s, func(a, b result) int { return cmp.Compare(a.alertsPerSec, b.alertsPerSec) })
	return s[len(s)/2]
}

// measure starts t with its GOMAXPROCS, loads it and stops it. A
// remediator starts on a fresh bbolt file each time. The garbage the
// previous target left (a durable run's 150,000 alerts) is collected
// first, so that its CPU is not charged to t.
func measure(t target, bodies [][]byte, o options) (res result, err error) {
	runtime.GOMAXPROCS(t.procs)
	url, metricsURL, stop, err := t.start()
	if err != nil {
		return result{}, err
	}
	defer func() {
		if serr := stop(); err == nil && serr != nil {
			err = fmt.Errorf("stopping: %w", serr)
		}
	}()
	runtime.GC()
	res, err = load(t.name, url, bodies, o)
	if err != nil {
		return res, err
	}
	res.commits = -1
	if metricsURL != "" {
		n, err := scrapeCount(metricsURL, "remediator_store_commit_duration_seconds_count")
		if err != nil {
			return res, err
		}
		res.commits = n / float64(res.requests)
	}
	return res, nil
}

// discardWrites is a store whose writes return at once: what ingest costs
// without storage.
func discardWrites(s engine.Store) engine.Store { return discarding{s} }

type discarding struct{ engine.Store }

func (discarding) Apply(context.Context, *engine.Changes) error { return nil }

// oneRecord commits one 8-byte record, fsynced, in place of each write.
type oneRecord struct {
	engine.Store
	db *bbolt.DB
}

func (o oneRecord) Apply(_ context.Context, c *engine.Changes) error {
	if c == nil || c.Empty() {
		return nil // as the real store: nothing to write, no commit
	}
	return o.db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte("writes"))
		if err != nil {
			return err
		}
		n, err := b.NextSequence()
		if err != nil {
			return err
		}
		k := binary.BigEndian.AppendUint64(nil, n)
		return b.Put(k, k)
	})
}

// startOneRecord runs a remediator whose every write is one fsynced
// record in a bbolt file of its own.
func startOneRecord(configFile string) (string, string, func() error, error) {
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return "", "", nil, err
	}
	db, err := bbolt.Open(filepath.Join(dir, "one-record.db"), 0o600, &bbolt.Options{Timeout: time.Second})
	if err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	cleanup := func() { _ = db.Close(); os.RemoveAll(dir) }
	url, _, stop, err := startDurable(app.Options{ConfigFile: configFile,
		WrapStore: func(s engine.Store) engine.Store { return oneRecord{s, db} }})
	if err != nil {
		cleanup()
		return "", "", nil, err
	}
	// No metrics URL: the remediator's own bbolt file sees no commits.
	return url, "", func() error { err := stop(); cleanup(); return err }, nil
}

// startBare serves a handler that only decodes the webhook and answers 200.
func startBare() (string, string, func() error, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
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
	return "http://" + l.Addr().String() + "/api/v1/webhook", "", srv.Close, nil
}

// startDurable runs a real remediator on o's config (or the embedded
// default) and a fresh bbolt file.
func startDurable(o app.Options) (string, string, func() error, error) {
	dir, err := os.MkdirTemp("", "loadgen-")
	if err != nil {
		return "", "", nil, err
	}
	o.Listen, o.DBPath = "127.0.0.1:0", filepath.Join(dir, "remediator.db")
	o.Logger = slog.New(slog.DiscardHandler)
	a, err := app.New(context.Background(), o)
	if err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() { runErr = a.Run(ctx); close(done) }()
	base := "http://" + a.Addr()
	return base + "/api/v1/webhook", base + "/metrics", func() error {
		cancel()
		<-done
		os.RemoveAll(dir)
		if runErr != nil {
			return fmt.Errorf("remediator: %w", runErr)
		}
		return nil
	}, nil
}

// scrapeCount reads one unlabelled sample from a Prometheus text page.
func scrapeCount(url, name string) (float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s: no sample %s", url, name)
}

type result struct {
	name         string
	alertsPerSec float64
	p50, p99     time.Duration
	requests     int
	cores        float64 // CPU seconds of the whole process per second
	cpuPerHook   float64 // ms of CPU (senders included) per webhook
	commits      float64 // bbolt commits per webhook, -1 when not known
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
	cpu0 := cpuTime()
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
	cpu := cpuTime() - cpu0
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
		cores:        cpu.Seconds() / elapsed.Seconds(),
		cpuPerHook:   cpu.Seconds() * 1000 / float64(len(lat)),
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

// cpuTime is the CPU (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
