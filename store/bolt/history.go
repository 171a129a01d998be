package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/remediator/remediator/engine"
)

// The engine keeps in memory only what is live and reads history from
// here: the Scan methods walk a bucket newest first, Get and Events read
// one incident's records. They run in read transactions, which never
// wait for a commit.

// ScanIncidents calls f with each stored incident whose ID is below before
// (all when 0), highest ID first, until f returns false.
func (s *Store) ScanIncidents(ctx context.Context, before uint64, f func(*engine.Incident) bool) error {
	return scan(s, ctx, bucketIncidents, before, decodeIncidentRecord, f)
}

// ScanAlerts is ScanIncidents for alert episodes.
func (s *Store) ScanAlerts(ctx context.Context, before uint64, f func(*engine.Alert) bool) error {
	return scan(s, ctx, bucketAlerts, before, decodeAlertRecord, f)
}

// ScanActions is ScanIncidents for action records.
func (s *Store) ScanActions(ctx context.Context, before uint64, f func(*engine.ActionRecord) bool) error {
	return scan(s, ctx, bucketActions, before, decodeActionRecord, f)
}

// ScanNotifications is ScanIncidents for notification records.
func (s *Store) ScanNotifications(ctx context.Context, before uint64, f func(*engine.NotificationRecord) bool) error {
	return scan(s, ctx, bucketNotes, before, decodeNotification, f)
}

// ScanAudit is ScanIncidents for audit entries.
func (s *Store) ScanAudit(ctx context.Context, before uint64, f func(*engine.AuditEntry) bool) error {
	return scan(s, ctx, bucketAudit, before, decodeAudit, f)
}

// ScanEscalations calls f with each stored escalation record, highest
// incident first, until f returns false.
func (s *Store) ScanEscalations(ctx context.Context, f func(*engine.Escalation) bool) error {
	return scan(s, ctx, bucketEsc, 0, decodeEscalation, f)
}

var (
	decodeNotification = decodeJSONRecord[engine.NotificationRecord]("notification", func(n *engine.NotificationRecord) (uint64, *uint64) { return n.ID, &n.Rev })
	decodeEscalation   = decodeJSONRecord[engine.Escalation]("escalation of incident", func(e *engine.Escalation) (uint64, *uint64) { return e.Incident, &e.Rev })
	decodeAudit        = func(key, val []byte, a *engine.AuditEntry) error {
		var norev uint64
		return decodeJSONRecord[engine.AuditEntry]("audit entry", func(a *engine.AuditEntry) (uint64, *uint64) { return a.ID, &norev })(key, val, a)
	}
)

// scan walks bucket from the key below before down to its first key.
func scan[T any](s *Store, ctx context.Context, bucket []byte, before uint64, dec func(key, val []byte, v *T) error, f func(*T) bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: scan %s: %w", bucket, err)
	}
	err := s.db.View(func(tx *bbolt.Tx) error {
		c := tx.Bucket(bucket).Cursor()
		k, v := c.Last()
		if before != 0 {
			if sk, _ := c.Seek(binary.BigEndian.AppendUint64(nil, before)); sk != nil {
				k, v = c.Prev()
			} else {
				k, v = c.Last()
			}
		}
		for n := 0; k != nil; k, v = c.Prev() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			if len(k) != 8 {
				return fmt.Errorf("%x: malformed key", k)
			}
			var rec T
			if err := dec(k, v, &rec); err != nil {
				return fmt.Errorf("%x: %w", k, err)
			}
			if !f(&rec) {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: scan %s: %w", bucket, err)
	}
	return nil
}

// Incident returns a stored incident with its alerts (in its order), its
// timeline (in Seq order) and its escalation record (nil: none). ok is
// false when no such incident is stored.
func (s *Store) Incident(ctx context.Context, id uint64) (h engine.IncidentHistory, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return h, false, fmt.Errorf("store: incident %d: %w", id, err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		key := binary.BigEndian.AppendUint64(nil, id)
		v := tx.Bucket(bucketIncidents).Get(key)
		if v == nil {
			return nil
		}
		ok = true
		if err := decodeIncidentRecord(key, v, &h.Incident); err != nil {
			return fmt.Errorf("incident: %w", err)
		}
		alerts := tx.Bucket(bucketAlerts)
		for _, aid := range h.Incident.Alerts {
			ak := binary.BigEndian.AppendUint64(nil, aid)
			if av := alerts.Get(ak); av != nil {
				var a engine.Alert
				if err := decodeAlertRecord(ak, av, &a); err != nil {
					return fmt.Errorf("alert %d: %w", aid, err)
				}
				h.Alerts = append(h.Alerts, a)
			}
		}
		c := tx.Bucket(bucketEvents).Cursor()
		for k, v := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, v = c.Next() {
			var ev engine.TimelineEvent
			if len(k) != 12 {
				return fmt.Errorf("event %x: malformed key", k)
			}
			if err := decodeEventRecord(k, v, &ev); err != nil {
				return fmt.Errorf("event %x: %w", k, err)
			}
			h.Timeline = append(h.Timeline, ev)
		}
		if v := tx.Bucket(bucketEsc).Get(key); v != nil {
			h.Escalation = &engine.Escalation{}
			if err := decodeEscalation(key, v, h.Escalation); err != nil {
				return fmt.Errorf("escalation: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return engine.IncidentHistory{}, false, fmt.Errorf("store: incident %d: %w", id, err)
	}
	return h, ok, nil
}

// Alert returns one stored alert episode; ok is false when there is none.
func (s *Store) Alert(ctx context.Context, id uint64) (a engine.Alert, ok bool, err error) {
	if err := ctx.Err(); err != nil {
		return a, false, fmt.Errorf("store: alert %d: %w", id, err)
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		key := binary.BigEndian.AppendUint64(nil, id)
		if v := tx.Bucket(bucketAlerts).Get(key); v != nil {
			ok = true
			return decodeAlertRecord(key, v, &a)
		}
		return nil
	})
	if err != nil {
		return engine.Alert{}, false, fmt.Errorf("store: alert %d: %w", id, err)
	}
	return a, ok, nil
}

// Prune deletes the history that retention no longer keeps (see
// engine.PruneRequest), in write transactions of at most
// r.MaxPerTx records each, so that no webhook waits long behind one. Freed
// pages are reused by later writes: the file stops growing once as much
// is deleted as is written. It returns what it deleted.
func (s *Store) Prune(ctx context.Context, r engine.PruneRequest) (engine.PruneResult, error) {
	var res engine.PruneResult
	if r.MaxPerTx < 1 {
		r.MaxPerTx = 1000
	}
	if err := s.db.Update(recordLastIDs); err != nil {
		return res, fmt.Errorf("store: prune: %w", err)
	}
	// Incidents created before the cutoff are the only ones that can
	// have resolved before it: the walk from the oldest stops at the
	// first one created after it.
	var doomed []engine.Incident
	for from, more := []byte(nil), true; more; {
		more = false
		err := s.db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucketIncidents).Cursor()
			k, v := after(c, from)
			for visited := 0; k != nil; k, v = c.Next() {
				if visited++; visited > pruneReadChunk {
					more = true // in a new read transaction
					return nil
				}
				var in engine.Incident
				if err := decodeIncidentRecord(k, v, &in); err != nil {
					return fmt.Errorf("incident %x: %w", k, err)
				}
				if !in.CreatedAt.Before(r.ResolvedBefore) {
					return nil
				}
				from = bytes.Clone(k)
				if in.Status == engine.IncidentResolved && in.Firing == 0 && in.ResolvedAt.Before(r.ResolvedBefore) && !r.Held[in.ID] {
					doomed = append(doomed, in)
				}
			}
			return nil
		})
		if err != nil {
			return res, fmt.Errorf("store: prune: %w", err)
		}
	}
	gone := map[uint64]bool{}
	for len(doomed) > 0 {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("store: prune: %w", err)
		}
		n, records := 0, 0
		for n < len(doomed) && (n == 0 || records+len(doomed[n].Alerts)+int(doomed[n].NextEvent)+2 <= r.MaxPerTx) {
			records += len(doomed[n].Alerts) + int(doomed[n].NextEvent) + 2
			n++
		}
		batch := doomed[:n]
		doomed = doomed[n:]
		if err := s.db.Update(func(tx *bbolt.Tx) error {
			return deleteIncidents(tx, batch, &res)
		}); err != nil {
			return res, fmt.Errorf("store: prune: %w", err)
		}
		for _, in := range batch {
			gone[in.ID] = true
		}
	}
	// Records of the deleted incidents, and those of no incident that
	// ended before the cutoff. They were all created before it.
	// An incident that is no longer stored (deleted by this prune or by
	// one cut short) takes its records with it.
	orphan := func(tx *bbolt.Tx, incident uint64) bool {
		return gone[incident] || (incident != 0 && !r.Held[incident] &&
			tx.Bucket(bucketIncidents).Get(binary.BigEndian.AppendUint64(nil, incident)) == nil)
	}
	if err := pruneWalk(s, ctx, bucketActions, r.MaxPerTx, decodeActionRecord, func(tx *bbolt.Tx, a *engine.ActionRecord) (stop, del bool) {
		return !a.CreatedAt.Before(r.ResolvedBefore), orphan(tx, a.Incident) || (a.Incident == 0 && a.FinishedAt.Before(r.ResolvedBefore))
	}, &res.Actions); err != nil {
		return res, err
	}
	if err := pruneWalk(s, ctx, bucketNotes, r.MaxPerTx, decodeNotification, func(tx *bbolt.Tx, n *engine.NotificationRecord) (stop, del bool) {
		done := n.Status != engine.NotePending && n.Status != engine.NoteSending && n.Status != engine.NoteSent
		return !n.CreatedAt.Before(r.ResolvedBefore), orphan(tx, n.Incident) || (n.Incident == 0 && done && n.CreatedAt.Before(r.ResolvedBefore))
	}, &res.Notifications); err != nil {
		return res, err
	}
	if err := pruneWalk(s, ctx, bucketAlerts, r.MaxPerTx, decodeAlertRecord, func(_ *bbolt.Tx, a *engine.Alert) (stop, del bool) {
		// The alerts of deleted incidents went with them; these are the
		// ones that belonged to none (they arrived already resolved).
		return !a.FirstSeen.Before(r.ResolvedBefore), a.Incident == 0 && a.Status == engine.StatusResolved && a.LastSeen.Before(r.ResolvedBefore)
	}, &res.Alerts); err != nil {
		return res, err
	}
	if err := pruneWalk(s, ctx, bucketAudit, r.MaxPerTx, decodeAudit, func(_ *bbolt.Tx, a *engine.AuditEntry) (stop, del bool) {
		old := a.At.Before(r.AuditBefore)
		return !old, old
	}, &res.Audit); err != nil {
		return res, err
	}
	return res, nil
}

// deleteIncidents deletes each incident with its alerts, events and
// escalation record.
func deleteIncidents(tx *bbolt.Tx, batch []engine.Incident, res *engine.PruneResult) error {
	incidents, alerts, events, escs := tx.Bucket(bucketIncidents), tx.Bucket(bucketAlerts), tx.Bucket(bucketEvents), tx.Bucket(bucketEsc)
	for _, in := range batch {
		key := binary.BigEndian.AppendUint64(nil, in.ID)
		for _, aid := range in.Alerts {
			ak := binary.BigEndian.AppendUint64(nil, aid)
			if alerts.Get(ak) != nil {
				if err := alerts.Delete(ak); err != nil {
					return fmt.Errorf("delete alert %d: %w", aid, err)
				}
				res.Alerts++
			}
		}
		c := events.Cursor()
		for k, _ := c.Seek(key); k != nil && bytes.HasPrefix(k, key); k, _ = c.Seek(key) {
			if err := events.Delete(k); err != nil {
				return fmt.Errorf("delete event %x: %w", k, err)
			}
			res.Events++
		}
		if escs.Get(key) != nil {
			if err := escs.Delete(key); err != nil {
				return fmt.Errorf("delete escalation %d: %w", in.ID, err)
			}
		}
		if err := incidents.Delete(key); err != nil {
			return fmt.Errorf("delete incident %d: %w", in.ID, err)
		}
		res.Incidents++
	}
	return nil
}

// pruneWalk walks bucket from its oldest record until judge says stop,
// deleting those it says to, at most maxPerTx per write transaction.
func pruneWalk[T any](s *Store, ctx context.Context, bucket []byte, maxPerTx int, dec func(key, val []byte, v *T) error, judge func(*bbolt.Tx, *T) (stop, del bool), count *int) error {
	var from []byte // resume after this key
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("store: prune %s: %w", bucket, err)
		}
		var keys [][]byte
		done := true
		err := s.db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket(bucket).Cursor()
			k, v := after(c, from)
			for visited := 0; k != nil; k, v = c.Next() {
				if visited++; visited > pruneReadChunk {
					done = false // the next read goes on from here
					return nil
				}
				var rec T
				if err := dec(k, v, &rec); err != nil {
					return fmt.Errorf("%x: %w", k, err)
				}
				stop, del := judge(tx, &rec)
				if stop {
					return nil
				}
				from = bytes.Clone(k)
				if del {
					keys = append(keys, bytes.Clone(k))
					if len(keys) == maxPerTx {
						done = false
						return nil
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: prune %s: %w", bucket, err)
		}
		if len(keys) > 0 {
			if err := s.db.Update(func(tx *bbolt.Tx) error {
				b := tx.Bucket(bucket)
				for _, k := range keys {
					if err := b.Delete(k); err != nil {
						return fmt.Errorf("delete %x: %w", k, err)
					}
				}
				return nil
			}); err != nil {
				return fmt.Errorf("store: prune %s: %w", bucket, err)
			}
			*count += len(keys)
		}
		if done {
			return nil
		}
	}
}

// after positions c on the first key after from (the first key when from
// is nil): where a walk split across read transactions goes on.
func after(c *bbolt.Cursor, from []byte) (k, v []byte) {
	if from == nil {
		return c.First()
	}
	if k, v = c.Seek(from); k != nil && bytes.Equal(k, from) {
		return c.Next()
	}
	return k, v
}

// pruneReadChunk bounds the records one read transaction of a prune
// walks: a long read transaction makes a commit that grows the file wait
// (bbolt's remap waits for readers).
const pruneReadChunk = 4096

// recordLastIDs keeps the highest key of each bucket whose records get
// IDs, before a prune may delete them (Load returns them as
// Snapshot.LastIDs).
func recordLastIDs(tx *bbolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	for _, b := range lastIDBuckets {
		k, _ := tx.Bucket(b).Cursor().Last()
		if len(k) != 8 {
			continue
		}
		key := append([]byte("last_id/"), b...)
		if old := meta.Get(key); len(old) == 8 && binary.BigEndian.Uint64(old) >= binary.BigEndian.Uint64(k) {
			continue
		}
		if err := meta.Put(key, bytes.Clone(k)); err != nil {
			return fmt.Errorf("record last id of %s: %w", b, err)
		}
	}
	return nil
}

var lastIDBuckets = [][]byte{bucketAlerts, bucketIncidents, bucketActions, bucketNotes, bucketAudit}

// lastIDs reads what recordLastIDs kept.
func lastIDs(tx *bbolt.Tx) engine.LastIDs {
	get := func(b []byte) uint64 {
		if v := tx.Bucket(bucketMeta).Get(append([]byte("last_id/"), b...)); len(v) == 8 {
			return binary.BigEndian.Uint64(v)
		}
		return 0
	}
	return engine.LastIDs{Alert: get(bucketAlerts), Incident: get(bucketIncidents), Action: get(bucketActions),
		Notification: get(bucketNotes), Audit: get(bucketAudit)}
}

// Compact copies the live records of the bbolt file src into a new file
// dst, which is smaller when src has free pages (after a prune). dst must
// not exist. src must not be open elsewhere (Open holds its lock).
func Compact(dst, src string, lockTimeout time.Duration) error {
	from, err := bbolt.Open(src, 0o600, &bbolt.Options{ReadOnly: true, Timeout: lockTimeout})
	if err != nil {
		return fmt.Errorf("compact: open %s: %w", src, err)
	}
	defer from.Close()
	to, err := bbolt.Open(dst, 0o600, &bbolt.Options{Timeout: lockTimeout, PageSize: from.Info().PageSize, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return fmt.Errorf("compact: create %s: %w", dst, err)
	}
	if err := bbolt.Compact(to, from, 64<<20); err != nil {
		to.Close()
		return fmt.Errorf("compact %s into %s: %w", src, dst, err)
	}
	if err := to.Close(); err != nil {
		return fmt.Errorf("compact: close %s: %w", dst, err)
	}
	return nil
}
