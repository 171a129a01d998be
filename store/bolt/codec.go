package bolt

// The value codec: a compact, hand-written binary encoding of Alert,
// Incident and TimelineEvent. It replaced encoding/json, which cost as much
// as decoding the webhook itself on the ingest path.
//
// An alert or incident value is the record's Rev as 8 big-endian bytes (put
// compares it without decoding), then the codec version byte, then the
// record's other fields in the fixed order of encoder.alert and
// encoder.incident, ID included although the key holds it too. An event
// value is the codec version byte, then the event's fields in the order of
// encoder.event, Incident and Seq included. So a value describes itself;
// Load checks that it agrees with its key.
//
// Field encodings:
//
//	uint64, uint32        uvarint
//	int                   zig-zag varint
//	string                uvarint length, then the bytes
//	map[string]string     uvarint 0 for nil, else 1+count; then each key and
//	                      value as strings, keys strictly increasing (so the
//	                      encoding is deterministic)
//	[]uint64              uvarint 0 for nil, else 1+count; then each element
//	                      as the zig-zag varint of its difference from the one
//	                      before (the first from 0), wrapping: arrival order
//	                      is mostly but not necessarily ascending
//	time.Time             zig-zag varint Unix seconds, uvarint nanoseconds
//	                      (< 1e9); decoded with time.Unix(s, ns).UTC(), so the
//	                      zero Time decodes to time.Time{} and any other to the
//	                      same instant in UTC
//
// nil and empty maps and slices are told apart, as they were in JSON: the
// API renders them differently (null and {}).
//
// Decoding never panics: every read is bounds-checked, lengths and counts
// are capped by the bytes left, and trailing bytes are an error. Errors
// name the byte offset from the start of the value, rev prefix included.
//
// A change of layout needs a new codec version (and, while old values are
// not converted, a new schemaVersion in bolt.go).

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/remediator/remediator/engine"
)

// codecVersion is the byte that follows the rev prefix (or starts an event).
const codecVersion = 1

// revLen is the length of the big-endian Rev that prefixes alerts and
// incidents.
const revLen = 8

// encoder encodes the records of one Changes. Each value is its own slice,
// exactly sized and with its capacity capped, so that appending to one can
// never write into another; but the values of each kind of record are
// carved from a few shared allocations, so that a webhook of a hundred
// alerts costs a handful of allocations, not two hundred. The zero encoder
// allocates each value on its own.
type encoder struct {
	alerts, incidents, events slab
}

// newEncoder returns an encoder for the records of c.
func newEncoder(c *engine.Changes) encoder {
	return encoder{
		alerts:    slab{left: len(c.Alerts)},
		incidents: slab{left: len(c.Incidents)},
		events:    slab{left: len(c.Events)},
	}
}

// maxSlab caps the size of one shared allocation.
const maxSlab = 64 << 10

// slab hands out value slices from shared allocations, each sized for the
// records still to come as if they were the size of the current one:
// records of one kind from one webhook are much alike.
type slab struct {
	buf  []byte
	left int // records still to come
}

// alloc returns an empty slice of capacity n.
func (s *slab) alloc(n int) []byte {
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, max(n, min(n*s.left, maxSlab)))
	}
	if s.left > 0 {
		s.left--
	}
	l := len(s.buf)
	s.buf = s.buf[:l+n]
	return s.buf[l : l : l+n]
}

// pair is a map entry. A record's maps are copied into arrays of pairs on
// the stack to be sorted.
type pair struct{ k, v string }

// smallMap is the number of map entries a record can have before sorting
// them needs a heap allocation.
const smallMap = 24

// alert returns a's value: rev prefix, version, fields.
func (e *encoder) alert(a *engine.Alert) []byte {
	var buf [smallMap]pair
	labels, labelsSize := sortedPairs(buf[:0], a.Labels)
	annotations, annotationsSize := sortedPairs(labels[len(labels):], a.Annotations)

	n := revLen + 1 +
		sizeUvarint(a.ID) +
		sizeString(a.Fingerprint) +
		sizeString(a.Status) +
		labelsSize +
		annotationsSize +
		sizeTime(a.StartsAt) +
		sizeTime(a.EndsAt) +
		sizeString(a.GeneratorURL) +
		sizeString(string(a.Level)) +
		sizeUvarint(a.Incident) +
		sizeTime(a.FirstSeen) +
		sizeTime(a.LastSeen) +
		sizeUvarint(a.Deliveries) +
		1 // Decided

	b := e.alerts.alloc(n)
	b = binary.BigEndian.AppendUint64(b, a.Rev)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, a.ID)
	b = appendString(b, a.Fingerprint)
	b = appendString(b, a.Status)
	b = appendMap(b, a.Labels, labels)
	b = appendMap(b, a.Annotations, annotations)
	b = appendTime(b, a.StartsAt)
	b = appendTime(b, a.EndsAt)
	b = appendString(b, a.GeneratorURL)
	b = appendString(b, string(a.Level))
	b = binary.AppendUvarint(b, a.Incident)
	b = appendTime(b, a.FirstSeen)
	b = appendTime(b, a.LastSeen)
	b = binary.AppendUvarint(b, a.Deliveries)
	b = binary.AppendUvarint(b, boolUvarint(a.Decided))
	return b
}

// decodeAlert decodes an alert value into *a, which it overwrites. (The
// calls in a composite literal run in lexical left-to-right order.)
func decodeAlert(val []byte, a *engine.Alert) error {
	d, rev := newDecoder(val, true)
	*a = engine.Alert{
		Rev:          rev,
		ID:           d.uvarint("id"),
		Fingerprint:  d.string("fingerprint"),
		Status:       d.string("status"),
		Labels:       d.stringMap("labels"),
		Annotations:  d.stringMap("annotations"),
		StartsAt:     d.time("starts_at"),
		EndsAt:       d.time("ends_at"),
		GeneratorURL: d.string("generator_url"),
		Level:        engine.Level(d.string("level")),
		Incident:     d.uvarint("incident"),
		FirstSeen:    d.time("first_seen"),
		LastSeen:     d.time("last_seen"),
		Deliveries:   d.uvarint("deliveries"),
		Decided:      d.uvarint("decided") != 0,
	}
	return d.finish()
}

// incident returns in's value: rev prefix, version, fields.
func (e *encoder) incident(in *engine.Incident) []byte {
	var buf [smallMap]pair
	labels, labelsSize := sortedPairs(buf[:0], in.Labels)

	n := revLen + 1 +
		sizeUvarint(in.ID) +
		sizeString(in.Key) +
		sizeString(in.Receiver) +
		sizeString(in.GroupKey) +
		sizeString(in.Title) +
		sizeString(string(in.Level)) +
		sizeString(string(in.Status)) +
		sizeTime(in.CreatedAt) +
		sizeTime(in.AcknowledgedAt) +
		sizeString(in.AcknowledgedBy) +
		sizeTime(in.ResolvedAt) +
		sizeString(in.ResolvedBy) +
		labelsSize +
		sizeString(in.ExternalURL) +
		sizeString(in.Priority) +
		sizeTime(in.RespondBy) +
		sizeTime(in.ResolveBy) +
		sizeIDs(in.Alerts) +
		sizeVarint(int64(in.Firing)) +
		sizeUvarint(uint64(in.NextEvent))

	b := e.incidents.alloc(n)
	b = binary.BigEndian.AppendUint64(b, in.Rev)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, in.ID)
	b = appendString(b, in.Key)
	b = appendString(b, in.Receiver)
	b = appendString(b, in.GroupKey)
	b = appendString(b, in.Title)
	b = appendString(b, string(in.Level))
	b = appendString(b, string(in.Status))
	b = appendTime(b, in.CreatedAt)
	b = appendTime(b, in.AcknowledgedAt)
	b = appendString(b, in.AcknowledgedBy)
	b = appendTime(b, in.ResolvedAt)
	b = appendString(b, in.ResolvedBy)
	b = appendMap(b, in.Labels, labels)
	b = appendString(b, in.ExternalURL)
	b = appendString(b, in.Priority)
	b = appendTime(b, in.RespondBy)
	b = appendTime(b, in.ResolveBy)
	b = appendIDs(b, in.Alerts)
	b = binary.AppendVarint(b, int64(in.Firing))
	b = binary.AppendUvarint(b, uint64(in.NextEvent))
	return b
}

// decodeIncident decodes an incident value into *in, which it overwrites.
func decodeIncident(val []byte, in *engine.Incident) error {
	d, rev := newDecoder(val, true)
	*in = engine.Incident{
		Rev:            rev,
		ID:             d.uvarint("id"),
		Key:            d.string("key"),
		Receiver:       d.string("receiver"),
		GroupKey:       d.string("group_key"),
		Title:          d.string("title"),
		Level:          engine.Level(d.string("level")),
		Status:         engine.IncidentStatus(d.string("status")),
		CreatedAt:      d.time("created_at"),
		AcknowledgedAt: d.time("acknowledged_at"),
		AcknowledgedBy: d.string("acknowledged_by"),
		ResolvedAt:     d.time("resolved_at"),
		ResolvedBy:     d.string("resolved_by"),
		Labels:         d.stringMap("labels"),
		ExternalURL:    d.string("external_url"),
		Priority:       d.string("priority"),
		RespondBy:      d.time("respond_by"),
		ResolveBy:      d.time("resolve_by"),
		Alerts:         d.ids("alerts"),
		Firing:         d.int("firing"),
		NextEvent:      d.uint32("next_event"),
	}
	return d.finish()
}

// event returns ev's value: version, fields.
func (e *encoder) event(ev *engine.TimelineEvent) []byte {
	n := 1 +
		sizeUvarint(ev.Incident) +
		sizeUvarint(uint64(ev.Seq)) +
		sizeTime(ev.At) +
		sizeString(ev.Type) +
		sizeString(ev.Detail) +
		sizeString(ev.By)

	b := e.events.alloc(n)
	b = append(b, codecVersion)
	b = binary.AppendUvarint(b, ev.Incident)
	b = binary.AppendUvarint(b, uint64(ev.Seq))
	b = appendTime(b, ev.At)
	b = appendString(b, ev.Type)
	b = appendString(b, ev.Detail)
	b = appendString(b, ev.By)
	return b
}

// decodeEvent decodes an event value into *ev, which it overwrites.
func decodeEvent(val []byte, ev *engine.TimelineEvent) error {
	d, _ := newDecoder(val, false)
	*ev = engine.TimelineEvent{
		Incident: d.uvarint("incident"),
		Seq:      d.uint32("seq"),
		At:       d.time("at"),
		Type:     d.string("type"),
		Detail:   d.string("detail"),
		By:       d.string("by"),
	}
	return d.finish()
}

// Encoding helpers.

// sortedPairs returns m's entries sorted by key, and the size of m's
// encoding. It appends the entries to buf, an empty slice whose capacity
// is usually enough.
func sortedPairs(buf []pair, m map[string]string) ([]pair, int) {
	ps := buf[:0]
	if m == nil {
		return ps, 1
	}
	n := sizeUvarint(uint64(len(m)) + 1)
	for k, v := range m {
		ps = append(ps, pair{k, v})
		n += sizeString(k) + sizeString(v)
	}
	if len(ps) > 12 {
		slices.SortFunc(ps, func(a, b pair) int { return strings.Compare(a.k, b.k) })
		return ps, n
	}
	// Insertion sort: labels and annotations are few, and this is the hot
	// path of ingest. Most keys differ in their first byte.
	for i := 1; i < len(ps); i++ {
		for j := i; j > 0 && less(ps[j].k, ps[j-1].k); j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
	return ps, n
}

// less reports whether a < b, without a call when the first bytes differ.
func less(a, b string) bool {
	if a != "" && b != "" && a[0] != b[0] {
		return a[0] < b[0]
	}
	return a < b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendMap appends m, whose entries sorted by key are ps.
func appendMap(b []byte, m map[string]string, ps []pair) []byte {
	if m == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(ps))+1)
	for _, p := range ps {
		b = appendString(b, p.k)
		b = appendString(b, p.v)
	}
	return b
}

func appendIDs(b []byte, ids []uint64) []byte {
	if ids == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(ids))+1)
	var prev uint64
	for _, id := range ids {
		b = binary.AppendVarint(b, int64(id-prev))
		prev = id
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	return binary.AppendUvarint(binary.AppendVarint(b, t.Unix()), uint64(t.Nanosecond()))
}

// The size* functions return the exact length of the matching append*, so
// that a value gets a slice of exactly its size.

func sizeUvarint(v uint64) int { return (bits.Len64(v|1) + 6) / 7 }

func sizeVarint(v int64) int { return sizeUvarint(uint64(v<<1) ^ uint64(v>>63)) }

func sizeString(s string) int { return sizeUvarint(uint64(len(s))) + len(s) }

func sizeIDs(ids []uint64) int {
	if ids == nil {
		return 1
	}
	n := sizeUvarint(uint64(len(ids)) + 1)
	var prev uint64
	for _, id := range ids {
		n += sizeVarint(int64(id - prev))
		prev = id
	}
	return n
}

func sizeTime(t time.Time) int {
	return sizeVarint(t.Unix()) + sizeUvarint(uint64(t.Nanosecond()))
}

// decoder reads one value. The first error sticks: later reads return zero
// values, and finish reports it.
type decoder struct {
	buf []byte
	off int
	err error
}

// newDecoder starts reading val: the rev prefix if withRev, then the codec
// version byte.
func newDecoder(val []byte, withRev bool) (decoder, uint64) {
	d := decoder{buf: val}
	var rev uint64
	if withRev {
		if len(val) < revLen {
			d.failf("truncated rev at byte 0: %d bytes, want at least %d", len(val), revLen)
			return d, 0
		}
		rev = binary.BigEndian.Uint64(val)
		d.off = revLen
	}
	switch {
	case d.off >= len(val):
		d.failf("truncated value at byte %d: no codec version", d.off)
	case val[d.off] != codecVersion:
		d.failf("unknown codec version %d at byte %d", val[d.off], d.off)
	default:
		d.off++
	}
	return d, rev
}

func (d *decoder) failf(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

// finish returns the first error, or an error if bytes are left over.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.buf) {
		d.failf("%d trailing bytes at byte %d", len(d.buf)-d.off, d.off)
	}
	return d.err
}

func (d *decoder) left() int { return len(d.buf) - d.off }

// next reads a uvarint that is (part of) a kind for field.
func (d *decoder) next(kind, field string) (uint64, bool) {
	if d.err != nil {
		return 0, false
	}
	v, n := binary.Uvarint(d.buf[d.off:])
	if n <= 0 {
		if n == 0 {
			d.failf("truncated %s at byte %d (%s)", kind, d.off, field)
		} else {
			d.failf("malformed %s at byte %d (%s): varint overflows 64 bits", kind, d.off, field)
		}
		return 0, false
	}
	d.off += n
	return v, true
}

// nextSigned reads a zig-zag varint that is (part of) a kind for field.
func (d *decoder) nextSigned(kind, field string) (int64, bool) {
	if d.err != nil {
		return 0, false
	}
	v, n := binary.Varint(d.buf[d.off:])
	if n <= 0 {
		if n == 0 {
			d.failf("truncated %s at byte %d (%s)", kind, d.off, field)
		} else {
			d.failf("malformed %s at byte %d (%s): varint overflows 64 bits", kind, d.off, field)
		}
		return 0, false
	}
	d.off += n
	return v, true
}

func (d *decoder) uvarint(field string) uint64 {
	v, _ := d.next("uvarint", field)
	return v
}

func (d *decoder) uint32(field string) uint32 {
	start := d.off
	v, ok := d.next("uvarint", field)
	if ok && v > math.MaxUint32 {
		d.failf("uvarint %d at byte %d (%s) overflows uint32", v, start, field)
		return 0
	}
	return uint32(v)
}

func (d *decoder) int(field string) int {
	start := d.off
	v, ok := d.nextSigned("varint", field)
	if ok && int64(int(v)) != v {
		d.failf("varint %d at byte %d (%s) overflows int", v, start, field)
		return 0
	}
	return int(v)
}

func (d *decoder) string(field string) string {
	start := d.off
	n, ok := d.next("string", field)
	if !ok {
		return ""
	}
	if n > uint64(d.left()) {
		d.failf("truncated string at byte %d (%s): length %d, %d bytes left", start, field, n, d.left())
		return ""
	}
	s := string(d.buf[d.off : d.off+int(n)])
	d.off += int(n)
	return s
}

func (d *decoder) stringMap(field string) map[string]string {
	start := d.off
	c, ok := d.next("map", field)
	if !ok || c == 0 {
		return nil
	}
	n := c - 1
	// An entry takes at least two bytes: two empty strings.
	if n > uint64(d.left()/2) {
		d.failf("truncated map at byte %d (%s): %d entries, %d bytes left", start, field, n, d.left())
		return nil
	}
	m := make(map[string]string, n)
	var prev string
	for i := range n {
		at := d.off
		k := d.string(field)
		v := d.string(field)
		if d.err != nil {
			return nil
		}
		if i > 0 && k <= prev {
			d.failf("map key at byte %d (%s) not after the one before", at, field)
			return nil
		}
		m[k] = v
		prev = k
	}
	return m
}

func (d *decoder) ids(field string) []uint64 {
	start := d.off
	c, ok := d.next("list", field)
	if !ok || c == 0 {
		return nil
	}
	n := c - 1
	// An element takes at least one byte.
	if n > uint64(d.left()) {
		d.failf("truncated list at byte %d (%s): %d elements, %d bytes left", start, field, n, d.left())
		return nil
	}
	ids := make([]uint64, n)
	var prev uint64
	for i := range ids {
		delta, ok := d.nextSigned("list", field)
		if !ok {
			return nil
		}
		prev += uint64(delta)
		ids[i] = prev
	}
	return ids
}

func (d *decoder) time(field string) time.Time {
	sec, ok := d.nextSigned("time", field)
	if !ok {
		return time.Time{}
	}
	at := d.off
	nsec, ok := d.next("time", field)
	if !ok {
		return time.Time{}
	}
	if nsec >= 1e9 {
		d.failf("time nanoseconds %d at byte %d (%s) out of range", nsec, at, field)
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func boolUvarint(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}
