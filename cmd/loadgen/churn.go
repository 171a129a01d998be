package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"sync"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/store/bolt"
)

// The memory runs drive the engine directly on a bbolt file, in simulated
// time: no HTTP, so the figures are the engine's and the store's.
//
// -churn fires and resolves new alerts for days of simulated time with a
// short retention, and prints memory and file size at the end of each
// day: with retention working both level off after the first day.
//
// -live N holds N firing alerts (100 per incident, 4 labels and 1
// annotation each, as the core's targets are stated), then restarts the
// engine on the file: peak RSS and the restart's time.

// simClock is the simulated clock of the memory runs.
type simClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *simClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *simClock) set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

// oneLevel classifies every alert "warning", with no SLA.
type oneLevel struct{}

func (oneLevel) Classify(*engine.ClassifyInput) engine.Level { return "warning" }
func (oneLevel) Explain(*engine.ClassifyInput) (engine.Level, []engine.RuleTrace) {
	return "warning", nil
}
func (oneLevel) Rank(engine.Level) int { return 0 }
func (oneLevel) SLA(engine.Level, time.Time) (string, time.Time, time.Time) {
	return "", time.Time{}, time.Time{}
}

// churnOptions shape a churn run.
type churnOptions struct {
	days   int
	every  time.Duration // a new group of alerts fires this often
	alerts int           // alerts per group
	lives  time.Duration // how long a group fires before it resolves
}

func memGroup(key string, n, from int, status string, at time.Time) *engine.Webhook {
	w := &engine.Webhook{Receiver: "loadgen", GroupKey: key, Status: status,
		CommonLabels: map[string]string{"alertname": "DiskFull", "job": "node"}}
	for i := range n {
		id := from + i
		a := engine.WebhookAlert{
			Fingerprint: fmt.Sprintf("%016x", id),
			Status:      status,
			Labels: map[string]string{"alertname": "DiskFull", "job": "node",
				"instance": "host-" + strconv.Itoa(id) + ":9100", "severity": "warning"},
			Annotations: map[string]string{"summary": "disk /var is 95% full on host-" + strconv.Itoa(id)},
			StartsAt:    at,
		}
		if status == engine.StatusResolved {
			a.EndsAt = at
		}
		w.Alerts = append(w.Alerts, a)
	}
	return w
}

func runChurn(out io.Writer, o churnOptions) error {
	dir, err := os.MkdirTemp("", "loadgen-churn-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "churn.db")
	// No fsync: this run measures memory and file size, not durability.
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	if err != nil {
		return err
	}
	defer st.Close()
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	clock := &simClock{now: start}
	ret := engine.Retention{InMemory: time.Hour, Keep: 24 * time.Hour, Audit: 24 * time.Hour}
	e, err := engine.New(context.Background(), engine.Options{Store: st, Clock: clock, Classifier: oneLevel{}, Retention: ret})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "churn: %d simulated days, a group of %d new alerts every %s, each firing %s; retention %s in memory, %s on disk\n",
		o.days, o.alerts, o.every, o.lives, ret.InMemory, ret.Keep)
	// RSS counts the file's pages that bbolt's mmap has touched (RssFile,
	// page cache the kernel may take back) with the process's own memory
	// (RssAnon): both are shown.
	fmt.Fprintf(out, "%4s %10s %9s %10s %9s %8s %9s %9s %9s %11s\n", "day", "alerts in", "live inc", "mem alerts", "heap MiB", "RSS MiB", "anon MiB", "file-backed", "file MiB", "pruned inc")
	ctx := context.Background()
	type fired struct {
		key  string
		from int
		at   time.Time
	}
	var firing []fired
	next, total, pruned := 0, 0, 0
	var lastPrune time.Time
	var day1RSS, day1File, day2File, lastRSS, lastFile, day1Anon, lastAnon float64
	for now := start; now.Before(start.Add(time.Duration(o.days) * 24 * time.Hour)); now = now.Add(o.every) {
		clock.set(now)
		key := "g" + strconv.Itoa(next)
		if _, err := e.Ingest(ctx, memGroup(key, o.alerts, next, engine.StatusFiring, now)); err != nil {
			return err
		}
		firing = append(firing, fired{key, next, now})
		next += o.alerts
		total += o.alerts
		for len(firing) > 0 && !now.Before(firing[0].at.Add(o.lives)) {
			f := firing[0]
			firing = firing[1:]
			w := memGroup(f.key, o.alerts, f.from, engine.StatusResolved, f.at)
			for i := range w.Alerts {
				w.Alerts[i].EndsAt = now
			}
			if _, err := e.Ingest(ctx, w); err != nil {
				return err
			}
		}
		e.Tick(now)
		if now.Sub(lastPrune) >= 10*time.Minute {
			lastPrune = now
			res, err := e.Prune(ctx)
			if err != nil {
				return err
			}
			pruned += res.Incidents
		}
		if end := now.Add(o.every); end.Sub(start)%(24*time.Hour) < o.every {
			day := int(end.Sub(start) / (24 * time.Hour))
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			rss := float64(procStatus("VmRSS")) / 1024
			fi, err := os.Stat(path)
			if err != nil {
				return err
			}
			file := float64(fi.Size()) / (1 << 20)
			m := e.InMemory()
			fmt.Fprintf(out, "%4d %10d %9d %10d %9.1f %8.1f %9.1f %9.1f %9.1f %11d\n", day, total, m.Incidents, m.Alerts,
				float64(ms.HeapAlloc)/(1<<20), rss, float64(procStatus("RssAnon"))/1024, float64(procStatus("RssFile"))/1024, file, pruned)
			anon := float64(procStatus("RssAnon")) / 1024
			switch day {
			case 1:
				day1RSS, day1File, day1Anon = rss, file, anon
			case 2:
				day2File = file
			}
			lastRSS, lastFile, lastAnon = rss, file, anon
		}
	}
	if day1RSS > 0 {
		fmt.Fprintf(out, "RSS at the end: %.1f MiB, %+.1f%% against day 1 (target: within 10%%); anonymous %.1f MiB, %+.1f%%\n",
			lastRSS, 100*(lastRSS-day1RSS)/day1RSS, lastAnon, 100*(lastAnon-day1Anon)/day1Anon)
		fmt.Fprintf(out, "file at the end: %.1f MiB (day 1 %.1f, day 2 %.1f): ", lastFile, day1File, day2File)
		if day2File > 0 && lastFile <= day2File*1.05 {
			fmt.Fprintln(out, "it stopped growing once the first day's history was deleted")
		} else {
			fmt.Fprintln(out, "still growing")
		}
	}
	return nil
}

// runLive holds n firing alerts, reports peak RSS, then times a restart
// of the engine on the file (loading it back into memory). With keep the
// file is written there and kept.
func runLive(out io.Writer, n int, keep, memProfile string) error {
	dir, err := os.MkdirTemp("", "loadgen-live-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "live.db")
	if keep != "" { // the file stays, to time remediator serve on it
		path = keep
	}
	st, err := bolt.Open(path, bolt.Options{NoSync: true})
	if err != nil {
		return err
	}
	clock := &simClock{now: time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)}
	opts := engine.Options{Store: st, Clock: clock, Classifier: oneLevel{},
		Retention: engine.Retention{InMemory: time.Hour, Keep: 90 * 24 * time.Hour, Audit: 365 * 24 * time.Hour}}
	e, err := engine.New(context.Background(), opts)
	if err != nil {
		st.Close()
		return err
	}
	began := time.Now()
	for i := 0; i < n; i += 100 {
		clock.set(clock.Now().Add(time.Millisecond))
		if _, err := e.Ingest(context.Background(), memGroup("g"+strconv.Itoa(i), min(100, n-i), i, engine.StatusFiring, clock.Now())); err != nil {
			st.Close()
			return err
		}
	}
	ingest := time.Since(began)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if memProfile != "" {
		f, err := os.Create(memProfile)
		if err != nil {
			return err
		}
		err = pprof.WriteHeapProfile(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	runtime.KeepAlive(e) // the heap measured holds the engine's state
	fi, _ := os.Stat(path)
	fmt.Fprintf(out, "live: %d firing alerts in %d incidents ingested in %s; heap after GC %.0f MiB, RSS %.0f MiB, peak RSS %.0f MiB, file %.0f MiB\n",
		n, (n+99)/100, ingest.Round(time.Millisecond), float64(ms.HeapAlloc)/(1<<20), float64(procStatus("VmRSS"))/1024,
		float64(procStatus("VmHWM"))/1024, float64(fi.Size())/(1<<20))
	if err := st.Close(); err != nil {
		return err
	}
	e = nil
	runtime.GC()
	debug.FreeOSMemory()
	began = time.Now()
	if opts.Store, err = bolt.Open(path, bolt.Options{NoSync: true}); err != nil {
		return err
	}
	defer opts.Store.(*bolt.Store).Close()
	e, err = engine.New(context.Background(), opts)
	if err != nil {
		return err
	}
	restart := time.Since(began)
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(e)
	fmt.Fprintf(out, "restart: engine rebuilt from the file in %s (%d alerts in memory); heap after GC %.0f MiB, peak RSS of the run %.0f MiB\n",
		restart.Round(time.Millisecond), e.InMemory().Alerts, float64(ms.HeapAlloc)/(1<<20), float64(procStatus("VmHWM"))/1024)
	return nil
}

// procStatus reads a kB figure (VmRSS, VmHWM) of /proc/self/status; 0
// where there is none.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(k) != field {
			continue
		}
		f := bytes.Fields(v)
		if len(f) > 0 {
			n, _ := strconv.ParseInt(string(f[0]), 10, 64)
			return n
		}
	}
	return 0
}
