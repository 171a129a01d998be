package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/remediator/remediator/engine"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// openStore opens a store at path and closes it when the test ends.
func openStore(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func apply(t testing.TB, s *Store, c *engine.Changes) {
	t.Helper()
	if err := s.Apply(context.Background(), c); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

func load(t testing.TB, s *Store) *engine.Snapshot {
	t.Helper()
	snap, err := s.Load(context.Background())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return snap
}

func alert(id, rev uint64, status string) *engine.Alert {
	return &engine.Alert{
		ID: id, Rev: rev, Fingerprint: fmt.Sprintf("fp%d", id), Status: status,
		Labels:      map[string]string{"alertname": "DiskFull", "instance": fmt.Sprintf("node%d", id)},
		Annotations: map[string]string{"summary": "disk is full"},
		StartsAt:    t0, FirstSeen: t0, LastSeen: t0.Add(time.Duration(rev) * time.Second),
		Level: "critical", Incident: 1, Deliveries: rev,
	}
}

func incident(id, rev uint64, status engine.IncidentStatus) *engine.Incident {
	return &engine.Incident{
		ID: id, Rev: rev, Key: "web/{}:{}", Receiver: "web", GroupKey: "{}:{}",
		Title: "DiskFull", Level: "critical", Status: status, CreatedAt: t0,
		Labels: map[string]string{"alertname": "DiskFull"}, Alerts: []uint64{1, 2}, Firing: 2,
	}
}

func event(inc uint64, seq uint32, detail string) engine.TimelineEvent {
	return engine.TimelineEvent{Incident: inc, Seq: seq, At: t0, Type: engine.EventNote, Detail: detail}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "sub", "remediator.db")
	s := openStore(t, path, Options{})
	// Given out of order, with IDs above 255 so that only big-endian keys sort them.
	apply(t, s, &engine.Changes{
		Alerts:    []*engine.Alert{alert(256, 1, engine.StatusFiring), alert(2, 3, engine.StatusResolved)},
		Incidents: []*engine.Incident{incident(300, 2, engine.IncidentOpen), incident(1, 1, engine.IncidentResolved)},
		Events:    []engine.TimelineEvent{event(300, 1, "c"), event(1, 256, "b"), event(1, 2, "a")},
	})
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = openStore(t, path, Options{})
	want := &engine.Snapshot{
		Alerts:    []*engine.Alert{alert(2, 3, engine.StatusResolved), alert(256, 1, engine.StatusFiring)},
		Incidents: []*engine.Incident{incident(1, 1, engine.IncidentResolved), incident(300, 2, engine.IncidentOpen)},
		Events:    []engine.TimelineEvent{event(1, 2, "a"), event(1, 256, "b"), event(300, 1, "c")},
	}
	if got := load(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("Load after reopen:\ngot  %+v\nwant %+v", got, want)
	}

	for p, mode := range map[string]os.FileMode{filepath.Dir(path): 0o700 | os.ModeDir, path: 0o600} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", p, fi.Mode(), mode)
		}
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	firing := alert(1, 2, engine.StatusFiring)
	tests := []struct {
		name    string
		applies []*engine.Changes
		want    *engine.Snapshot
	}{
		{
			// Batch may run a function twice; callers may retry.
			name:    "same changes twice give one copy",
			applies: []*engine.Changes{{Alerts: []*engine.Alert{firing}, Events: []engine.TimelineEvent{event(1, 1, "x")}}, {Alerts: []*engine.Alert{firing}, Events: []engine.TimelineEvent{event(1, 1, "x")}}},
			want:    &engine.Snapshot{Alerts: []*engine.Alert{firing}, Events: []engine.TimelineEvent{event(1, 1, "x")}},
		},
		{
			// Concurrent Apply calls may arrive out of order.
			name:    "older rev after newer is ignored",
			applies: []*engine.Changes{{Incidents: []*engine.Incident{incident(1, 5, engine.IncidentResolved)}}, {Incidents: []*engine.Incident{incident(1, 4, engine.IncidentOpen)}}},
			want:    &engine.Snapshot{Incidents: []*engine.Incident{incident(1, 5, engine.IncidentResolved)}},
		},
		{
			// The ordinary case: a later revision replaces the record.
			name:    "newer rev replaces older",
			applies: []*engine.Changes{{Alerts: []*engine.Alert{alert(1, 1, engine.StatusFiring)}}, {Alerts: []*engine.Alert{alert(1, 2, engine.StatusResolved)}}},
			want:    &engine.Snapshot{Alerts: []*engine.Alert{alert(1, 2, engine.StatusResolved)}},
		},
		{
			// Within one Changes the highest revision wins whatever the order.
			name:    "two revs in one changes keep the newest",
			applies: []*engine.Changes{{Alerts: []*engine.Alert{alert(1, 3, engine.StatusResolved), alert(1, 2, engine.StatusFiring)}}},
			want:    &engine.Snapshot{Alerts: []*engine.Alert{alert(1, 3, engine.StatusResolved)}},
		},
		{
			// Events are immutable: the first write of a key stays.
			name:    "events are not duplicated or overwritten",
			applies: []*engine.Changes{{Events: []engine.TimelineEvent{event(7, 1, "first")}}, {Events: []engine.TimelineEvent{event(7, 1, "second"), event(7, 2, "next")}}},
			want:    &engine.Snapshot{Events: []engine.TimelineEvent{event(7, 1, "first"), event(7, 2, "next")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, filepath.Join(t.TempDir(), "r.db"), Options{})
			for _, c := range tt.applies {
				apply(t, s, c)
			}
			if got := load(t, s); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestSecondOpenFailsWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	openStore(t, path, Options{})
	// bbolt takes a flock on its own file descriptor, so a second Open in
	// the same process waits for the lock just as another process would.
	s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		s.Close()
		t.Fatal("second Open succeeded; want a lock error")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("errors.Is(%v, ErrLocked) = false", err)
	}
	if want := fmt.Sprintf("open store %q: locked by another process (waited 100ms)", path); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestAfterClose(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "r.db"), Options{})
	if err := s.Ping(); err != nil {
		t.Fatalf("Ping while open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Apply(context.Background(), &engine.Changes{Alerts: []*engine.Alert{alert(1, 1, engine.StatusFiring)}}); !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Errorf("Apply after Close: %v, want ErrDatabaseNotOpen", err)
	}
	if _, err := s.Load(context.Background()); !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Errorf("Load after Close: %v, want ErrDatabaseNotOpen", err)
	}
	if err := s.Ping(); !errors.Is(err, berrors.ErrDatabaseNotOpen) {
		t.Errorf("Ping after Close: %v, want ErrDatabaseNotOpen", err)
	}
}

func TestApplyWithCancelledContextWritesNothing(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "r.db"), Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Apply(ctx, &engine.Changes{Alerts: []*engine.Alert{alert(1, 1, engine.StatusFiring)}, Events: []engine.TimelineEvent{event(1, 1, "x")}})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Apply: %v, want context.Canceled", err)
	}
	if got := load(t, s); len(got.Alerts)+len(got.Incidents)+len(got.Events) != 0 {
		t.Errorf("store holds %+v, want nothing", got)
	}
}

func idKey(id uint64) []byte { return binary.BigEndian.AppendUint64(nil, id) }

func eventKey(incident uint64, seq uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(make([]byte, 0, 12), incident), seq)
}

// rawUpdate runs fn on the bbolt file at path, bypassing the Store.
func rawUpdate(t *testing.T, path string, fn func(*bbolt.Tx) error) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s := openStore(t, path, Options{})
	s.Close()
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, idKey(schemaVersion+1))
	})

	_, err := Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open: %v, want ErrSchemaTooNew", err)
	}
	if want := fmt.Sprintf("open store %q: schema version too new: file has 3, this build supports 2", path); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	// The refused Open released the lock.
	rawUpdate(t, path, func(*bbolt.Tx) error { return nil })
}

// A file of schema 1 holds JSON values. Only development builds wrote it,
// so it is refused rather than migrated, and left as it is.
func TestOlderSchemaIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s := openStore(t, path, Options{})
	s.Close()
	oldJSON := append(idKey(1), `{"id":1,"rev":1,"fingerprint":"fp1"}`...)
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		if err := tx.Bucket(bucketAlerts).Put(idKey(1), oldJSON); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchema, idKey(1))
	})

	_, err := Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooOld) {
		t.Fatalf("Open: %v, want ErrSchemaTooOld", err)
	}
	want := fmt.Sprintf("open store %q: schema version too old: file has 1, this build supports 2; "+
		"the file was written by an older development build; remove it", path)
	if err.Error() != want {
		t.Errorf("error %q\nwant  %q", err, want)
	}
	// The refused Open released the lock and changed nothing.
	rawUpdate(t, path, func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySchema); binary.BigEndian.Uint64(v) != 1 {
			t.Errorf("schema version now %x, want 1", v)
		}
		if v := tx.Bucket(bucketAlerts).Get(idKey(1)); string(v) != string(oldJSON) {
			t.Errorf("alert 1 now %q, want %q", v, oldJSON)
		}
		return nil
	})
}

func TestLoadReportsUndecodableRecord(t *testing.T) {
	good := encodeAlert(alert(2, 1, engine.StatusFiring))
	tests := []struct {
		name   string
		bucket []byte
		key    []byte
		val    []byte
		want   string
	}{
		{
			name:   "JSON of schema 1",
			bucket: bucketAlerts, key: idKey(2), val: append(idKey(1), `{"id":2}`...),
			want: "decode alerts 0000000000000002: unknown codec version 123 at byte 8",
		},
		{
			name:   "no rev",
			bucket: bucketIncidents, key: idKey(2), val: []byte{0, 0, 1},
			want: "decode incidents 0000000000000002: truncated rev at byte 0: 3 bytes, want at least 8",
		},
		{
			// 8 rev, 1 version, 1 id, then fingerprint "fp2" as 1+3 bytes.
			name:   "truncated string",
			bucket: bucketAlerts, key: idKey(2), val: good[:13],
			want: "decode alerts 0000000000000002: truncated string at byte 10 (fingerprint): length 3, 2 bytes left",
		},
		{
			name:   "trailing bytes",
			bucket: bucketAlerts, key: idKey(2), val: append(bytes.Clone(good), 0),
			want: fmt.Sprintf("decode alerts 0000000000000002: 1 trailing bytes at byte %d", len(good)),
		},
		{
			name:   "alert under another ID",
			bucket: bucketAlerts, key: idKey(3), val: good,
			want: "decode alerts 0000000000000003: value holds alert 2",
		},
		{
			name:   "incident under another ID",
			bucket: bucketIncidents, key: idKey(3), val: encodeIncident(incident(2, 1, engine.IncidentOpen)),
			want: "decode incidents 0000000000000003: value holds incident 2",
		},
		{
			name:   "event under another key",
			bucket: bucketEvents, key: eventKey(1, 3), val: encodeEvent(ptr(event(1, 2, "x"))),
			want: "decode events 000000000000000100000003: value holds event 1/2",
		},
		{
			name:   "short event key",
			bucket: bucketEvents, key: idKey(1), val: encodeEvent(ptr(event(1, 2, "x"))),
			want: "decode events 0000000000000001: malformed key",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.db")
			s := openStore(t, path, Options{})
			apply(t, s, &engine.Changes{Alerts: []*engine.Alert{alert(1, 1, engine.StatusFiring)}})
			s.Close()
			rawUpdate(t, path, func(tx *bbolt.Tx) error {
				return tx.Bucket(tt.bucket).Put(tt.key, tt.val)
			})

			s = openStore(t, path, Options{})
			_, err := s.Load(context.Background())
			if want := "store: load: " + tt.want; err == nil || err.Error() != want {
				t.Errorf("Load: %v\nwant  %s", err, want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestConcurrentApply(t *testing.T) {
	const goroutines, perGoroutine = 16, 50
	s := openStore(t, filepath.Join(t.TempDir(), "r.db"), Options{})
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*perGoroutine)
	for g := range goroutines {
		wg.Go(func() {
			for i := range perGoroutine {
				n := uint64(g*perGoroutine + i + 1)
				// Every call also races to update incident 1; the highest Rev must win.
				errs <- s.Apply(context.Background(), &engine.Changes{
					Alerts:    []*engine.Alert{alert(n, 1, engine.StatusFiring)},
					Incidents: []*engine.Incident{incident(1, n, engine.IncidentOpen)},
					Events:    []engine.TimelineEvent{event(1, uint32(n), "added")},
				})
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Apply: %v", err)
		}
	}

	snap := load(t, s)
	if len(snap.Alerts) != goroutines*perGoroutine || len(snap.Events) != goroutines*perGoroutine {
		t.Errorf("got %d alerts and %d events, want %d each", len(snap.Alerts), len(snap.Events), goroutines*perGoroutine)
	}
	for i, a := range snap.Alerts {
		if a.ID != uint64(i+1) {
			t.Fatalf("alert %d has ID %d: missing or out of order", i, a.ID)
		}
	}
	if len(snap.Incidents) != 1 || snap.Incidents[0].Rev != goroutines*perGoroutine {
		t.Errorf("incidents %+v, want one with Rev %d", snap.Incidents, goroutines*perGoroutine)
	}
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	path := filepath.Join(t.TempDir(), "r.db")
	s := openStore(t, path, Options{Registerer: reg})
	apply(t, s, &engine.Changes{Alerts: []*engine.Alert{alert(1, 1, engine.StatusFiring)}})
	s.Close()
	// Reopening with the same Registerer reuses the registered metrics.
	s = openStore(t, path, Options{Registerer: reg})
	s.Close()
	if err := s.Apply(context.Background(), &engine.Changes{Alerts: []*engine.Alert{alert(1, 2, engine.StatusFiring)}}); err == nil {
		t.Fatal("Apply after Close succeeded")
	}

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		m := f.GetMetric()[0]
		if h := m.GetHistogram(); h != nil {
			got[f.GetName()] = float64(h.GetSampleCount())
		} else {
			got[f.GetName()] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"remediator_store_commit_duration_seconds": 2, // both Apply calls are timed
		"remediator_store_commit_errors_total":     1, // the one after Close
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}

// benchTemplate returns the 100 alerts of a typical webhook, without IDs.
func benchTemplate() []engine.Alert {
	template := make([]engine.Alert, 100)
	for i := range template {
		template[i] = engine.Alert{
			Fingerprint: fmt.Sprintf("%016x", i), Status: engine.StatusFiring,
			Labels: map[string]string{
				"alertname": "HighLatency", "instance": fmt.Sprintf("10.0.%d.%d:9100", i/256, i%256),
				"job": "node", "severity": "critical", "team": "storage", "cluster": "eu-west-1",
			},
			Annotations: map[string]string{
				"summary":     "p99 latency above 500ms for 10 minutes",
				"runbook_url": "https://runbooks.example.com/HighLatency",
			},
			StartsAt: t0, FirstSeen: t0, LastSeen: t0, Level: "critical",
			GeneratorURL: "http://prometheus:9090/graph?g0.expr=latency",
		}
	}
	return template
}

// benchChanges returns one webhook's worth of writes: the alerts of
// template with IDs from base, their incident base and 100 timeline events.
func benchChanges(template []engine.Alert, base uint64) *engine.Changes {
	c := &engine.Changes{Incidents: []*engine.Incident{incident(base, 1, engine.IncidentOpen)}}
	for i := range template {
		a := template[i]
		a.ID, a.Rev, a.Incident = base+uint64(i), 1, base
		c.Alerts = append(c.Alerts, &a)
	}
	for i, typ := range []string{engine.EventOpened, engine.EventReceived, engine.EventAlertAdded} {
		c.Events = append(c.Events, engine.TimelineEvent{Incident: base, Seq: uint32(i), At: t0, Type: typ, Detail: "100 firing: alert HighLatency (…) and 95 more"})
	}
	return c
}

// BenchmarkApply100Alerts measures one webhook's worth of writes as the
// engine makes them: 100 new alerts with dense IDs, their incident and
// three timeline events, committed from 8 parallel callers per CPU. It
// reports alerts/s and the CPU time (user+system) per webhook.
func BenchmarkApply100Alerts(b *testing.B) {
	s := openStore(b, filepath.Join(b.TempDir(), "bench.db"), Options{})
	template := benchTemplate()
	var next atomic.Uint64
	cpu0 := cpuTime(b)
	b.ResetTimer()
	b.SetParallelism(8)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			// Fresh, dense IDs each time, so every record is really written.
			c := benchChanges(template, next.Add(1)*100)
			if err := s.Apply(context.Background(), c); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)*100/b.Elapsed().Seconds(), "alerts/s")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestSilencesRoundTrip: silences are stored, put-if-newer, and loaded.
func TestSilencesRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := openStore(t, path, Options{})
	ctx := context.Background()
	sil := &engine.Silence{ID: 7, Rev: 3, Matchers: []engine.Matcher{{Name: "service", Value: "db"}},
		StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedBy: "alice", Comment: "migration", CreatedAt: t0}
	if err := s.Apply(ctx, &engine.Changes{Silences: []*engine.Silence{sil}}); err != nil {
		t.Fatal(err)
	}
	older := *sil
	older.Rev, older.Comment = 2, "stale"
	if err := s.Apply(ctx, &engine.Changes{Silences: []*engine.Silence{&older}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path, Options{})
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Silences) != 1 {
		t.Fatalf("%d silences", len(snap.Silences))
	}
	got := snap.Silences[0]
	if got.ID != 7 || got.Rev != 3 || got.Comment != "migration" || got.Matchers[0].Name != "service" || !got.EndsAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("silence = %+v", got)
	}
}

// The outbox, the escalation records and the schedule overrides survive a
// reopen, and the newest revision wins.
func TestNotificationsEscalationsOverridesRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.db")
	s := openStore(t, path, Options{})
	ctx := context.Background()
	note := &engine.NotificationRecord{ID: 4, Rev: 5, Incident: 2, Event: engine.NotifyFiring, Key: "2/firing/alice/phone",
		Channel: "phone", Notifier: "phone", Recipient: engine.Recipient{Person: "alice", Address: "+8613800000001"},
		Status: engine.NoteSending, Attempts: 1, Calls: 1, CreatedAt: t0, DueAt: t0,
		History: []engine.NoteAttempt{{At: t0, Result: "retry", Error: "503"}}}
	esc := &engine.Escalation{Incident: 2, Rev: 6, Chain: "p1", Step: 1, DueAt: t0.Add(15 * time.Minute), FirstAckBy: ""}
	ov := &engine.ScheduleOverride{ID: 1, Rev: 7, Schedule: "first-line", Person: "bob", From: t0, To: t0.Add(time.Hour), CreatedBy: "ops", CreatedAt: t0}
	if err := s.Apply(ctx, &engine.Changes{Notifications: []*engine.NotificationRecord{note}, Escalations: []*engine.Escalation{esc},
		Overrides: []*engine.ScheduleOverride{ov}}); err != nil {
		t.Fatal(err)
	}
	older := *esc
	older.Rev, older.Step = 4, 0
	if err := s.Apply(ctx, &engine.Changes{Escalations: []*engine.Escalation{&older}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, path, Options{})
	snap, err := s.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Notifications) != 1 || snap.Notifications[0].Status != engine.NoteSending || snap.Notifications[0].Rev != 5 ||
		len(snap.Notifications[0].History) != 1 || snap.Notifications[0].Recipient.Address != "+8613800000001" {
		t.Fatalf("notifications = %+v", snap.Notifications)
	}
	if len(snap.Escalations) != 1 || snap.Escalations[0].Step != 1 || snap.Escalations[0].Rev != 6 || !snap.Escalations[0].DueAt.Equal(t0.Add(15*time.Minute)) {
		t.Fatalf("escalations = %+v", snap.Escalations)
	}
	if len(snap.Overrides) != 1 || snap.Overrides[0].Person != "bob" || snap.Overrides[0].Rev != 7 {
		t.Fatalf("overrides = %+v", snap.Overrides)
	}
}

// TestNoSyncIsOffUnlessAsked: every commit is fsynced unless the caller
// (only cmd/loadgen -layers) asks otherwise.
func TestNoSyncIsOffUnlessAsked(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		s := openStore(t, filepath.Join(t.TempDir(), "r.db"), Options{NoSync: noSync})
		if s.db.NoSync != noSync {
			t.Errorf("Options{NoSync: %v} opened bbolt with NoSync %v", noSync, s.db.NoSync)
		}
	}
}
