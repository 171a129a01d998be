// Package bolt implements engine.Store on a bbolt file.
//
// Layout: ten buckets created at Open. alerts and incidents are keyed by
// the record's ID (8 bytes, big-endian) and hold an 8-byte big-endian Rev
// followed by the record in the binary codec of codec.go; events are keyed
// by Incident (8 bytes) + Seq (4 bytes) and hold the event in that codec.
// silences, actions, notifications, overrides and audit are keyed by ID,
// escalations by incident ID, and hold the Rev and the record as JSON
// (they are few and small). meta holds the schema version. Big-endian keys
// make a cursor walk return records in ID order, and history.go's walks
// newest first.
package bolt

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/remediator/remediator/engine"
)

// Errors returned by Open, checked with errors.Is.
var (
	// ErrLocked means another process (or another Store in this process)
	// holds the file's lock for longer than Options.LockTimeout.
	ErrLocked = errors.New("locked by another process")
	// ErrSchemaTooNew means the file was written by a newer remediator.
	ErrSchemaTooNew = errors.New("schema version too new")
	// ErrSchemaTooOld means the file was written by an older development
	// build whose layout this build does not read (there is no migration).
	ErrSchemaTooOld = errors.New("schema version too old")
)

// schemaVersion is the layout this package reads and writes. 1 stored
// records as JSON; 2 stores them in the binary codec of codec.go.
const schemaVersion = 2

var (
	bucketAlerts    = []byte("alerts")
	bucketIncidents = []byte("incidents")
	bucketEvents    = []byte("events")
	bucketMeta      = []byte("meta")
	bucketSilences  = []byte("silences")
	bucketActions   = []byte("actions")
	bucketNotes     = []byte("notifications")
	bucketEsc       = []byte("escalations")
	bucketOverrides = []byte("overrides")
	bucketAudit     = []byte("audit")
	keySchema       = []byte("schema_version")
)

// Options tunes Open. The zero value is ready to use.
type Options struct {
	LockTimeout time.Duration         // how long Open waits for the file lock, default 2s if zero
	Registerer  prometheus.Registerer // may be nil: then no metrics
	// NoSync skips the fsync of each commit, so a crash may lose or
	// corrupt what was answered as stored. It exists only to measure what
	// fsync costs (cmd/loadgen -layers); remediator never sets it.
	NoSync bool
}

// Store is an engine.Store on one bbolt file. It is safe for concurrent use.
type Store struct {
	db      *bbolt.DB
	metrics *metrics // nil without a Registerer
}

var _ engine.Store = (*Store)(nil)

// Open opens or creates the store at path, creating its parent directory,
// its buckets and its schema version as needed.
func Open(path string, opts Options) (*Store, error) {
	if opts.LockTimeout == 0 {
		opts.LockTimeout = 2 * time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:        opts.LockTimeout,
		NoFreelistSync: true, // faster commits; the freelist is rebuilt at open
		// 16 KiB pages hold ~40 alerts: fewer pages and splits per commit
		// than 4 KiB (about 10% less CPU in BenchmarkApply100Alerts). It
		// applies when the file is created.
		PageSize:     16 << 10,
		FreelistType: bbolt.FreelistMapType,
		NoSync:       opts.NoSync, // false: every commit is fsynced
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %q: %w (waited %s)", path, ErrLocked, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}

	if err := db.Update(initSchema); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %q: %w", path, err)
	}
	s := &Store{db: db}
	if opts.Registerer != nil {
		if s.metrics, err = newMetrics(opts.Registerer); err != nil {
			db.Close()
			return nil, fmt.Errorf("open store %q: %w", path, err)
		}
	}
	return s, nil
}

// initSchema refuses any schema but this one, then creates the buckets and
// records the schema version.
func initSchema(tx *bbolt.Tx) error {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if v := meta.Get(keySchema); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("malformed schema version %x", v)
			}
			switch got := binary.BigEndian.Uint64(v); {
			case got > schemaVersion:
				return fmt.Errorf("%w: file has %d, this build supports %d", ErrSchemaTooNew, got, schemaVersion)
			case got < schemaVersion:
				// Only development builds wrote older schemas: no migration.
				return fmt.Errorf("%w: file has %d, this build supports %d; the file was written by an older development build; remove it",
					ErrSchemaTooOld, got, schemaVersion)
			}
		}
	}
	for _, name := range [][]byte{bucketAlerts, bucketIncidents, bucketEvents, bucketMeta, bucketSilences, bucketActions, bucketNotes, bucketEsc, bucketOverrides, bucketAudit} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint64(nil, schemaVersion))
}

// record is one encoded key/value pair.
type record struct{ key, val []byte }

// writes is a Changes encoded outside the transaction.
type writes struct{ alerts, incidents, events, silences, actions, notes, escs, overrides, audit []record }

// Apply writes c durably in one transaction: it returns nil only after the
// commit is fsynced. Alerts, incidents and silences are written only if
// newer (by Rev) than the stored record and events only if absent, so
// Apply is idempotent and tolerates a change applied again. ctx is checked
// before writing; a commit that has started is not interrupted. An empty
// Changes is a no-op.
//
// Group commit happens in the engine, which calls Apply one batch at a
// time in the order it made the changes (engine/commit.go), so Apply uses
// DB.Update: DB.Batch would add its delay to every write and could commit
// concurrent callers out of order.
func (s *Store) Apply(ctx context.Context, c *engine.Changes) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: apply: %w", err)
	}
	if c == nil || c.Empty() {
		return nil
	}
	if s.metrics != nil {
		defer s.metrics.observe(time.Now(), &err)
	}
	w, err := encode(c)
	if err != nil {
		return fmt.Errorf("store: apply: %w", err)
	}
	if err := s.db.Update(w.write); err != nil {
		return fmt.Errorf("store: apply: %w", err)
	}
	return nil
}

// encode encodes every record of c, before the transaction. bbolt keeps
// references to keys and values until the transaction commits: each key
// and value is its own slice that nothing writes afterwards.
func encode(c *engine.Changes) (*writes, error) {
	w := &writes{
		alerts:    make([]record, len(c.Alerts)),
		incidents: make([]record, len(c.Incidents)),
		events:    make([]record, len(c.Events)),
	}
	keys := make([]byte, 8*len(c.Alerts)+8*len(c.Incidents)+12*len(c.Events))
	next := func(n int) []byte {
		k := keys[:n:n]
		keys = keys[n:]
		return k
	}
	e := newEncoder(c)
	for i, a := range c.Alerts {
		k := next(8)
		binary.BigEndian.PutUint64(k, a.ID)
		w.alerts[i] = record{k, e.alert(a)}
	}
	for i, in := range c.Incidents {
		k := next(8)
		binary.BigEndian.PutUint64(k, in.ID)
		w.incidents[i] = record{k, e.incident(in)}
	}
	for i := range c.Events {
		ev := &c.Events[i]
		k := next(12)
		binary.BigEndian.PutUint64(k, ev.Incident)
		binary.BigEndian.PutUint32(k[8:], ev.Seq)
		w.events[i] = record{k, e.event(ev)}
	}
	// Silences and action records are few and small: JSON, behind the
	// same Rev prefix.
	for _, sl := range c.Silences {
		rec, err := jsonRecord(sl.ID, sl.Rev, sl)
		if err != nil {
			return nil, fmt.Errorf("encode silence %d: %w", sl.ID, err)
		}
		w.silences = append(w.silences, rec)
	}
	for _, a := range c.Actions {
		rec, err := jsonRecord(a.ID, a.Rev, a)
		if err != nil {
			return nil, fmt.Errorf("encode action %d: %w", a.ID, err)
		}
		w.actions = append(w.actions, rec)
	}
	for _, n := range c.Notifications {
		rec, err := jsonRecord(n.ID, n.Rev, n)
		if err != nil {
			return nil, fmt.Errorf("encode notification %d: %w", n.ID, err)
		}
		w.notes = append(w.notes, rec)
	}
	for _, es := range c.Escalations {
		rec, err := jsonRecord(es.Incident, es.Rev, es)
		if err != nil {
			return nil, fmt.Errorf("encode escalation of incident %d: %w", es.Incident, err)
		}
		w.escs = append(w.escs, rec)
	}
	for _, o := range c.Overrides {
		rec, err := jsonRecord(o.ID, o.Rev, o)
		if err != nil {
			return nil, fmt.Errorf("encode override %d: %w", o.ID, err)
		}
		w.overrides = append(w.overrides, rec)
	}
	for _, a := range c.Audit {
		rec, err := jsonRecord(a.ID, 0, a)
		if err != nil {
			return nil, fmt.Errorf("encode audit entry %d: %w", a.ID, err)
		}
		w.audit = append(w.audit, rec)
	}
	return w, nil
}

// jsonRecord is an 8-byte big-endian ID key and a Rev-prefixed JSON value.
func jsonRecord(id, rev uint64, v any) (record, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return record{}, err
	}
	val := binary.BigEndian.AppendUint64(make([]byte, 0, revLen+len(j)), rev)
	return record{binary.BigEndian.AppendUint64(nil, id), append(val, j...)}, nil
}

// write puts w in tx. It runs inside the write transaction: no encoding here.
func (w *writes) write(tx *bbolt.Tx) error {
	if err := put(tx, bucketAlerts, w.alerts, true, appendFill); err != nil {
		return err
	}
	if err := put(tx, bucketIncidents, w.incidents, true, appendFill); err != nil {
		return err
	}
	if err := put(tx, bucketSilences, w.silences, true, appendFill); err != nil {
		return err
	}
	if err := put(tx, bucketActions, w.actions, true, appendFill); err != nil {
		return err
	}
	if err := put(tx, bucketNotes, w.notes, true, appendFill); err != nil {
		return err
	}
	if err := put(tx, bucketEsc, w.escs, true, appendFill); err != nil {
		return err
	}
	if err := put(tx, bucketOverrides, w.overrides, true, appendFill); err != nil {
		return err
	}
	// Audit entries are append-only: an existing key is never overwritten.
	if err := put(tx, bucketAudit, w.audit, false, appendFill); err != nil {
		return err
	}
	return put(tx, bucketEvents, w.events, false, bbolt.DefaultFillPercent)
}

// appendFill is the fill percent of buckets whose keys (increasing IDs)
// are appended: a split leaves the left page nearly full instead of half
// empty, which cut the pages written per commit and the store's CPU per
// 100-alert webhook by about a quarter (BenchmarkApply100Alerts).
const appendFill = 0.95

// put writes each record whose key is absent. With versioned, it also
// overwrites a stored record whose Rev is lower than the new one.
func put(tx *bbolt.Tx, bucket []byte, recs []record, versioned bool, fill float64) error {
	b := tx.Bucket(bucket)
	b.FillPercent = fill
	for _, r := range recs {
		if old := b.Get(r.key); old != nil {
			if !versioned {
				continue
			}
			if len(old) < 8 {
				return fmt.Errorf("stored %s %x: value too short", bucket, r.key)
			}
			if binary.BigEndian.Uint64(old) >= binary.BigEndian.Uint64(r.val) {
				continue
			}
		}
		if err := b.Put(r.key, r.val); err != nil {
			return fmt.Errorf("put %s %x: %w", bucket, r.key, err)
		}
	}
	return nil
}

// Load returns everything in the store, read in one transaction: alerts and
// incidents in ID order, events by incident then Seq. A record that does not
// decode is an error naming its bucket and key. Records are decoded in the
// transaction, straight from bbolt's pages (the decoders copy what they
// keep), so a load never holds the file's bytes twice.
func (s *Store) Load(ctx context.Context) (*engine.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("store: load: %w", err)
	}
	snap := &engine.Snapshot{}
	err := s.db.View(func(tx *bbolt.Tx) (err error) {
		if snap.Alerts, err = loadBucket(tx, bucketAlerts, 8, decodeAlertRecord); err != nil {
			return err
		}
		if snap.Incidents, err = loadBucket(tx, bucketIncidents, 8, decodeIncidentRecord); err != nil {
			return err
		}
		if snap.Events, err = loadValues(tx, bucketEvents, 12, decodeEventRecord); err != nil {
			return err
		}
		if snap.Silences, err = loadBucket(tx, bucketSilences, 8, decodeSilenceRecord); err != nil {
			return err
		}
		if snap.Actions, err = loadBucket(tx, bucketActions, 8, decodeActionRecord); err != nil {
			return err
		}
		if snap.Notifications, err = loadBucket(tx, bucketNotes, 8, decodeNotification); err != nil {
			return err
		}
		if snap.Escalations, err = loadBucket(tx, bucketEsc, 8, decodeEscalation); err != nil {
			return err
		}
		if snap.Overrides, err = loadBucket(tx, bucketOverrides, 8, decodeJSONRecord[engine.ScheduleOverride]("override", func(o *engine.ScheduleOverride) (uint64, *uint64) { return o.ID, &o.Rev })); err != nil {
			return err
		}
		snap.LastIDs = lastIDs(tx)
		snap.Audit, err = loadBucket(tx, bucketAudit, 8, decodeAudit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: load: %w", err)
	}
	return snap, nil
}

// loadBucket decodes every record of bucket, in key order (nil when the
// bucket is empty). Records are decoded into slabs of loadSlab, so that a
// million alerts are neither a million allocations nor one array copied
// each time it grows.
func loadBucket[T any](tx *bbolt.Tx, bucket []byte, keyLen int, dec func(key, val []byte, v *T) error) ([]*T, error) {
	var out []*T
	var slab []T
	c := tx.Bucket(bucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != keyLen {
			return nil, fmt.Errorf("decode %s %x: malformed key", bucket, k)
		}
		if len(slab) == cap(slab) {
			slab = make([]T, 0, loadSlab)
		}
		slab = slab[:len(slab)+1]
		rec := &slab[len(slab)-1]
		if err := dec(k, v, rec); err != nil {
			return nil, fmt.Errorf("decode %s %x: %w", bucket, k, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// loadSlab is how many records loadBucket decodes into one allocation.
const loadSlab = 4096

// loadValues decodes every record of bucket, in key order.
func loadValues[T any](tx *bbolt.Tx, bucket []byte, keyLen int, dec func(key, val []byte, v *T) error) ([]T, error) {
	var out []T
	c := tx.Bucket(bucket).Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) != keyLen {
			return nil, fmt.Errorf("decode %s %x: malformed key", bucket, k)
		}
		var rec T
		if err := dec(k, v, &rec); err != nil {
			return nil, fmt.Errorf("decode %s %x: %w", bucket, k, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// decodeJSONRecord returns a decoder of Rev-prefixed JSON records that
// checks the record's ID against its key.
func decodeJSONRecord[T any](what string, idRev func(*T) (uint64, *uint64)) func(key, val []byte, r *T) error {
	return func(key, val []byte, r *T) error {
		if len(val) < revLen {
			return fmt.Errorf("value too short")
		}
		if err := json.Unmarshal(val[revLen:], r); err != nil {
			return err
		}
		id, rev := idRev(r)
		*rev = binary.BigEndian.Uint64(val)
		if id != binary.BigEndian.Uint64(key) {
			return fmt.Errorf("value holds %s %d", what, id)
		}
		return nil
	}
}

// decodeActionRecord decodes an action record and checks it against its key.
func decodeActionRecord(key, val []byte, r *engine.ActionRecord) error {
	if len(val) < revLen {
		return fmt.Errorf("value too short")
	}
	if err := json.Unmarshal(val[revLen:], r); err != nil {
		return err
	}
	r.Rev = binary.BigEndian.Uint64(val)
	if r.ID != binary.BigEndian.Uint64(key) {
		return fmt.Errorf("value holds action %d", r.ID)
	}
	return nil
}

// decodeSilenceRecord decodes a silence and checks it against its key.
func decodeSilenceRecord(key, val []byte, sl *engine.Silence) error {
	if len(val) < revLen {
		return fmt.Errorf("value too short")
	}
	if err := json.Unmarshal(val[revLen:], sl); err != nil {
		return err
	}
	sl.Rev = binary.BigEndian.Uint64(val)
	if sl.ID != binary.BigEndian.Uint64(key) {
		return fmt.Errorf("value holds silence %d", sl.ID)
	}
	return nil
}

// decodeAlertRecord decodes an alert and checks it against its key.
func decodeAlertRecord(key, val []byte, a *engine.Alert) error {
	if err := decodeAlert(val, a); err != nil {
		return err
	}
	if a.ID != binary.BigEndian.Uint64(key) {
		return fmt.Errorf("value holds alert %d", a.ID)
	}
	return nil
}

// decodeIncidentRecord decodes an incident and checks it against its key.
func decodeIncidentRecord(key, val []byte, in *engine.Incident) error {
	if err := decodeIncident(val, in); err != nil {
		return err
	}
	if in.ID != binary.BigEndian.Uint64(key) {
		return fmt.Errorf("value holds incident %d", in.ID)
	}
	return nil
}

// decodeEventRecord decodes an event and checks it against its key.
func decodeEventRecord(key, val []byte, ev *engine.TimelineEvent) error {
	if err := decodeEvent(val, ev); err != nil {
		return err
	}
	if ev.Incident != binary.BigEndian.Uint64(key) || ev.Seq != binary.BigEndian.Uint32(key[8:]) {
		return fmt.Errorf("value holds event %d/%d", ev.Incident, ev.Seq)
	}
	return nil
}

// Ping returns nil while the store is open.
func (s *Store) Ping() error {
	if err := s.db.View(func(*bbolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// Close closes the file and releases its lock. Apply, Load and Ping fail
// afterwards.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

// metrics instruments Apply.
type metrics struct {
	duration prometheus.Histogram
	errors   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	duration, err := register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "remediator_store_commit_duration_seconds",
		Help:    "Time taken by store Apply calls, including the fsynced commit.",
		Buckets: prometheus.ExponentialBucketsRange(100e-6, 1, 9), // 100µs … 1s, ×√10
	}))
	if err != nil {
		return nil, err
	}
	errs, err := register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: "remediator_store_commit_errors_total",
		Help: "Store Apply calls that failed.",
	}))
	if err != nil {
		return nil, err
	}
	return &metrics{duration: duration, errors: errs}, nil
}

// register registers c, or returns the collector already registered in its
// place (a store reopened with the same Registerer).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	if err != nil {
		return c, fmt.Errorf("register metrics: %w", err)
	}
	return c, nil
}

func (m *metrics) observe(start time.Time, err *error) {
	m.duration.Observe(time.Since(start).Seconds())
	if *err != nil {
		m.errors.Inc()
	}
}
