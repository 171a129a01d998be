package bolt

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
)

// encodeAlert, encodeIncident and encodeEvent encode one record with the
// zero encoder, as the value of a Changes of its own.
func encodeAlert(a *engine.Alert) []byte          { var e encoder; return e.alert(a) }
func encodeIncident(in *engine.Incident) []byte   { var e encoder; return e.incident(in) }
func encodeEvent(ev *engine.TimelineEvent) []byte { var e encoder; return e.event(ev) }

// roundTrip encodes v with enc, checks that the size estimate was exact,
// decodes the value with dec and returns the result.
func roundTrip[T any](t testing.TB, v *T, enc func(*T) []byte, dec func([]byte, *T) error) *T {
	t.Helper()
	b := enc(v)
	if len(b) != cap(b) {
		t.Errorf("encoded %d bytes into a buffer of %d: the size estimate is off", len(b), cap(b))
	}
	var got T
	if err := dec(b, &got); err != nil {
		t.Fatalf("decode %x: %v", b, err)
	}
	return &got
}

func roundTripAlert(t testing.TB, a *engine.Alert) *engine.Alert {
	t.Helper()
	return roundTrip(t, a, encodeAlert, decodeAlert)
}

func roundTripIncident(t testing.TB, in *engine.Incident) *engine.Incident {
	t.Helper()
	return roundTrip(t, in, encodeIncident, decodeIncident)
}

func roundTripEvent(t testing.TB, ev *engine.TimelineEvent) *engine.TimelineEvent {
	t.Helper()
	return roundTrip(t, ev, encodeEvent, decodeEvent)
}

var timeType = reflect.TypeFor[time.Time]()

// fill sets every field of the struct *p to a non-zero value chosen to
// exercise the codec: long and non-ASCII strings, values that need the
// longest varints, descending IDs. It fails the test on a field type it
// does not know: a field of a new type needs the codec and fill extended.
func fill(t testing.TB, p any) {
	t.Helper()
	v := reflect.ValueOf(p).Elem()
	typ := v.Type()
	for i := range v.NumField() {
		f, sf := v.Field(i), typ.Field(i)
		if !f.CanSet() {
			t.Fatalf("%s.%s is unexported: fill cannot set it", typ.Name(), sf.Name)
		}
		n := uint64(i + 1)
		switch {
		case sf.Type == timeType:
			f.Set(reflect.ValueOf(time.Date(2025, 3, 1, 12, 0, int(n), int(n)*1001, time.UTC)))
		case f.Kind() == reflect.String:
			f.SetString(sf.Name + " é ✓ " + strings.Repeat("x", 130)) // length needs two bytes
		case f.Kind() == reflect.Uint64:
			f.SetUint(math.MaxUint64 - n)
		case f.Kind() == reflect.Bool:
			f.SetBool(true)
		case f.Kind() == reflect.Uint32:
			f.SetUint(math.MaxUint32 - n)
		case f.Kind() == reflect.Int:
			f.SetInt(-1000 - int64(n))
		case f.Kind() == reflect.Map && sf.Type.Key().Kind() == reflect.String && sf.Type.Elem().Kind() == reflect.String:
			m := reflect.MakeMap(sf.Type)
			for k, v := range map[string]string{"b": sf.Name, "a": "1", "": "empty key", "ключ": "", "a\x00": "nul"} {
				m.SetMapIndex(reflect.ValueOf(k).Convert(sf.Type.Key()), reflect.ValueOf(v).Convert(sf.Type.Elem()))
			}
			f.Set(m)
		case f.Kind() == reflect.Slice && sf.Type.Elem().Kind() == reflect.Uint64:
			ids := []uint64{n, 3, math.MaxUint64, 0, 1 << 63, 7, 8, 9}
			s := reflect.MakeSlice(sf.Type, len(ids), len(ids))
			for j, id := range ids {
				s.Index(j).SetUint(id)
			}
			f.Set(s)
		default:
			t.Fatalf("%s.%s: fill does not know type %s; encode the field in codec.go, then teach fill", typ.Name(), sf.Name, sf.Type)
		}
		if f.IsZero() {
			t.Fatalf("%s.%s: fill left it zero", typ.Name(), sf.Name)
		}
	}
}

// everyField checks that a record with every field set round-trips, and
// so does one with each field in turn left zero, and the zero record.
func everyField[T any](t testing.TB, enc func(*T) []byte, dec func([]byte, *T) error) {
	t.Helper()
	var full T
	fill(t, &full)
	if got := roundTrip(t, &full, enc, dec); !reflect.DeepEqual(got, &full) {
		t.Fatalf("round trip of %T with every field set: %s", full, diffFields(got, &full))
	}
	for i := range reflect.TypeFor[T]().NumField() {
		v := full
		reflect.ValueOf(&v).Elem().Field(i).SetZero()
		if got := roundTrip(t, &v, enc, dec); !reflect.DeepEqual(got, &v) {
			t.Errorf("round trip of %T with only %s zero: %s", v, reflect.TypeFor[T]().Field(i).Name, diffFields(got, &v))
		}
	}
	var zero T
	if got := roundTrip(t, &zero, enc, dec); !reflect.DeepEqual(got, &zero) {
		t.Errorf("round trip of the zero %T: %s", zero, diffFields(got, &zero))
	}
}

// diffFields describes the fields in which the structs *got and *want differ.
func diffFields[T any](got, want *T) string {
	g, w := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	var diffs []string
	for i := range g.NumField() {
		if gf, wf := g.Field(i).Interface(), w.Field(i).Interface(); !reflect.DeepEqual(gf, wf) {
			diffs = append(diffs, fmt.Sprintf("%s is %#v, want %#v", g.Type().Field(i).Name, gf, wf))
		}
	}
	return strings.Join(diffs, "; ")
}

// A field added to engine's records but not to the codec fails here.
func TestCodecEncodesEveryField(t *testing.T) {
	t.Run("Alert", func(t *testing.T) { everyField(t, encodeAlert, decodeAlert) })
	t.Run("Incident", func(t *testing.T) { everyField(t, encodeIncident, decodeIncident) })
	t.Run("TimelineEvent", func(t *testing.T) { everyField(t, encodeEvent, decodeEvent) })
}

func TestCodecTimes(t *testing.T) {
	kolkata := time.FixedZone("IST", 5*3600+1800)
	tests := []struct {
		name string
		in   time.Time
	}{
		{"zero", time.Time{}},
		{"UTC", t0},
		{"nanoseconds", time.Date(2025, 3, 1, 12, 0, 0, 999_999_999, time.UTC)},
		{"before 1970", time.Date(1969, 12, 31, 23, 59, 59, 1, time.UTC)},
		{"year 1 plus a nanosecond", time.Time{}.Add(1)},
		{"far future", time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)},
		{"non-UTC", time.Date(2025, 3, 1, 17, 30, 0, 123, kolkata)},
		{"local with monotonic reading", time.Now()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := roundTripEvent(t, &engine.TimelineEvent{At: tt.in}).At
			if !got.Equal(tt.in) {
				t.Errorf("got %v, want the instant %v", got, tt.in)
			}
			if got.Location() != time.UTC {
				t.Errorf("got location %v, want UTC", got.Location())
			}
			if want := tt.in.UTC().Round(0); got != want {
				t.Errorf("got %#v, want %#v", got, want)
			}
			if got.IsZero() != tt.in.IsZero() {
				t.Errorf("IsZero %v, want %v", got.IsZero(), tt.in.IsZero())
			}
		})
	}
	// What the engine relies on: an unset time stays unset.
	if got := roundTripAlert(t, &engine.Alert{}).EndsAt; got != (time.Time{}) || !got.IsZero() {
		t.Errorf("zero EndsAt came back as %#v", got)
	}
}

// The API renders nil maps as null and empty ones as {}, as JSON kept them.
func TestCodecKeepsNilAndEmptyApart(t *testing.T) {
	a := roundTripAlert(t, &engine.Alert{Labels: map[string]string{}})
	if a.Labels == nil || len(a.Labels) != 0 || a.Annotations != nil {
		t.Errorf("alert labels %#v, annotations %#v; want empty and nil", a.Labels, a.Annotations)
	}
	in := roundTripIncident(t, &engine.Incident{Alerts: []uint64{}})
	if in.Alerts == nil || len(in.Alerts) != 0 || in.Labels != nil {
		t.Errorf("incident alerts %#v, labels %#v; want empty and nil", in.Alerts, in.Labels)
	}
	in = roundTripIncident(t, &engine.Incident{Labels: map[string]string{}})
	if in.Alerts != nil || in.Labels == nil {
		t.Errorf("incident alerts %#v, labels %#v; want nil and empty", in.Alerts, in.Labels)
	}
}

// Map iteration order is random; the encoding must not be.
func TestCodecIsDeterministic(t *testing.T) {
	a := alert(1, 1, engine.StatusFiring)
	for i := range 50 {
		a.Labels[fmt.Sprintf("label%02d", i)] = fmt.Sprint(i)
	}
	first := encodeAlert(a)
	for range 20 {
		if again := encodeAlert(a); !bytes.Equal(again, first) {
			t.Fatalf("encodings differ:\n%x\n%x", first, again)
		}
	}
}

func TestCodecIDs(t *testing.T) {
	for _, ids := range [][]uint64{
		{1},
		{1, 2, 3, 1000, 1001},
		{math.MaxUint64, 0, math.MaxUint64, 1 << 63, 1<<63 - 1},
		{5, 4, 3, 2, 1},
	} {
		got := roundTripIncident(t, &engine.Incident{Alerts: ids}).Alerts
		if !reflect.DeepEqual(got, ids) {
			t.Errorf("got %v, want %v", got, ids)
		}
	}
	// Ascending IDs from one webhook take a byte each after the first.
	ids := make([]uint64, 100)
	for i := range ids {
		ids[i] = 1_000_000 + uint64(i)
	}
	zero := len(encodeIncident(&engine.Incident{Alerts: []uint64{}}))
	if got, want := len(encodeIncident(&engine.Incident{Alerts: ids})), zero+sizeVarint(1_000_000)+99; got != want {
		t.Errorf("100 ascending IDs take %d bytes, want %d", got-zero, want-zero)
	}
}

func TestDecodeErrors(t *testing.T) {
	a := encodeAlert(&engine.Alert{ID: 2, Fingerprint: "fp", Labels: map[string]string{"a": "1", "b": "2"}})
	// a: 8 rev | 01 version | 02 id | 02 'f' 'p' | 00 status | at 14, labels: 03 01 'a' 01 '1' 01 'b' 01 '2' | ...
	const labels = 14
	if a[labels] != 3 || a[labels+1] != 1 || a[labels+2] != 'a' {
		t.Fatalf("layout changed; fix the offsets of this test: %x", a)
	}
	set := func(b []byte, at int, bs ...byte) []byte {
		b = bytes.Clone(b)
		copy(b[at:], bs)
		return b
	}
	// in ends: 00 external_url | 03 alerts: 02 02 | 02 firing | 03 next_event
	in := encodeIncident(&engine.Incident{Alerts: []uint64{1, 2}, Firing: 1, NextEvent: 3})
	ev := encodeEvent(&engine.TimelineEvent{Incident: 1, Seq: 2, At: t0, Type: "note"})
	zeroRev := make([]byte, 8)

	tests := []struct {
		name string
		dec  func([]byte) error
		in   []byte
		want string
	}{
		{"empty alert", decAlert, nil, "truncated rev at byte 0: 0 bytes, want at least 8"},
		{"no version", decAlert, zeroRev, "truncated value at byte 8: no codec version"},
		{"version 2", decAlert, append(zeroRev, 2), "unknown codec version 2 at byte 8"},
		{"no id", decAlert, append(zeroRev, 1), "truncated uvarint at byte 9 (id)"},
		{"id of 11 bytes", decAlert, append(append(zeroRev, 1), bytes.Repeat([]byte{0xff}, 11)...), "malformed uvarint at byte 9 (id): varint overflows 64 bits"},
		{"string past the end", decAlert, a[:12], "truncated string at byte 10 (fingerprint): length 2, 1 bytes left"},
		{"huge string", decAlert, append(append(zeroRev, 1, 0), 0xff, 0xff, 0xff, 0xff, 0x0f), "truncated string at byte 10 (fingerprint): length 4294967295, 0 bytes left"},
		{"huge map", decAlert, set(a, labels, 0xff, 0xff, 0x03), "truncated map at byte 14 (labels): 65534 entries, 40 bytes left"},
		{"map keys out of order", decAlert, set(a, labels+2, 'c'), "map key at byte 19 (labels) not after the one before"},
		{"duplicate map key", decAlert, set(a, labels+2, 'b'), "map key at byte 19 (labels) not after the one before"},
		{"trailing byte", decAlert, append(bytes.Clone(a), 0), fmt.Sprintf("1 trailing bytes at byte %d", len(a))},
		{"nanoseconds out of range", decEvent, []byte{1, 1, 2, 0, 0x80, 0x94, 0xeb, 0xdc, 0x03}, "time nanoseconds 1000000000 at byte 4 (at) out of range"},
		{"seq over uint32", decEvent, []byte{1, 1, 0x80, 0x80, 0x80, 0x80, 0x10}, "uvarint 4294967296 at byte 2 (seq) overflows uint32"},
		{"truncated event", decEvent, ev[:len(ev)-1], fmt.Sprintf("truncated string at byte %d (by)", len(ev)-1)},
		{"truncated IDs", decIncident, in[:len(in)-3], fmt.Sprintf("truncated list at byte %d (alerts): 2 elements, 1 bytes left", len(in)-5)},
		{"huge IDs", decIncident, set(in, len(in)-5, 0x7f), fmt.Sprintf("truncated list at byte %d (alerts): 126 elements, 4 bytes left", len(in)-5)},
		{"truncated ID", decIncident, set(in, len(in)-4, 0x80, 0x80, 0x80, 0x80), fmt.Sprintf("truncated list at byte %d (alerts)", len(in)-4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.dec(tt.in)
			if err == nil || err.Error() != tt.want {
				t.Errorf("decode %x: %v\nwant  %s", tt.in, err, tt.want)
			}
		})
	}
}

func decAlert(b []byte) error    { return decodeAlert(b, new(engine.Alert)) }
func decIncident(b []byte) error { return decodeIncident(b, new(engine.Incident)) }
func decEvent(b []byte) error    { return decodeEvent(b, new(engine.TimelineEvent)) }

// Every proper prefix of a value fails to decode, and no value with one
// byte changed makes the decoder panic.
func TestDecodeCorruptValues(t *testing.T) {
	var full struct {
		a  engine.Alert
		in engine.Incident
		ev engine.TimelineEvent
	}
	fill(t, &full.a)
	fill(t, &full.in)
	fill(t, &full.ev)
	for _, c := range []struct {
		name string
		val  []byte
		dec  func([]byte) error
	}{
		{"alert", encodeAlert(&full.a), decAlert},
		{"incident", encodeIncident(&full.in), decIncident},
		{"event", encodeEvent(&full.ev), decEvent},
		{"small alert", encodeAlert(alert(1, 1, engine.StatusFiring)), decAlert},
	} {
		for n := range len(c.val) {
			if err := c.dec(c.val[:n]); err == nil {
				t.Errorf("%s: the first %d of %d bytes decoded", c.name, n, len(c.val))
			}
		}
		for i := range c.val {
			for _, x := range []byte{0x00, 0x01, 0x7f, 0x80, 0xff} {
				b := bytes.Clone(c.val)
				b[i] = x
				_ = c.dec(b) // must not panic
			}
		}
	}
}

// fuzzDecode checks that decoding never panics, and that whatever decodes
// re-encodes to bytes that decode to the same record and re-encode
// identically.
func fuzzDecode[T any](f *testing.F, seeds [][]byte, enc func(*T) []byte, dec func([]byte, *T) error) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var v T
		if err := dec(data, &v); err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		again := enc(&v)
		var w T
		if err := dec(again, &w); err != nil {
			t.Fatalf("%x decoded to %+v, which re-encodes to %x, which does not decode: %v", data, v, again, err)
		}
		if !reflect.DeepEqual(v, w) {
			t.Fatalf("%x decoded to %+v, which re-encodes to %x, which decodes to %+v", data, v, again, w)
		}
		if third := enc(&w); !bytes.Equal(third, again) {
			t.Fatalf("re-encoding is not stable: %x then %x", again, third)
		}
	})
}

func FuzzDecodeAlert(f *testing.F) {
	var full engine.Alert
	fill(f, &full)
	fuzzDecode(f, [][]byte{
		encodeAlert(alert(1, 1, engine.StatusFiring)),
		encodeAlert(&benchTemplate()[7]),
		encodeAlert(&engine.Alert{}),
		encodeAlert(&engine.Alert{Labels: map[string]string{}, Annotations: map[string]string{"": ""}}),
		encodeAlert(&full),
		append(idKey(1), `{"id":1}`...),
	}, encodeAlert, decodeAlert)
}

func FuzzDecodeIncident(f *testing.F) {
	var full engine.Incident
	fill(f, &full)
	fuzzDecode(f, [][]byte{
		encodeIncident(incident(1, 1, engine.IncidentOpen)),
		encodeIncident(&engine.Incident{}),
		encodeIncident(&engine.Incident{Alerts: []uint64{}, Labels: map[string]string{}}),
		encodeIncident(&full),
	}, encodeIncident, decodeIncident)
}

func FuzzDecodeEvent(f *testing.F) {
	var full engine.TimelineEvent
	fill(f, &full)
	fuzzDecode(f, [][]byte{
		encodeEvent(ptr(event(1, 2, "x"))),
		encodeEvent(&engine.TimelineEvent{}),
		encodeEvent(&full),
	}, encodeEvent, decodeEvent)
}

// jsonEncode is the encoding of schema 1, kept to compare with the codec:
// the rev prefix and JSON for alerts and incidents, JSON for events.
func jsonEncode(c *engine.Changes) (*writes, error) {
	withRev := func(rev uint64, v any) ([]byte, error) {
		j, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		return append(binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(j)), rev), j...), nil
	}
	w := &writes{
		alerts:    make([]record, 0, len(c.Alerts)),
		incidents: make([]record, 0, len(c.Incidents)),
		events:    make([]record, 0, len(c.Events)),
	}
	for _, a := range c.Alerts {
		val, err := withRev(a.Rev, a)
		if err != nil {
			return nil, err
		}
		w.alerts = append(w.alerts, record{idKey(a.ID), val})
	}
	for _, in := range c.Incidents {
		val, err := withRev(in.Rev, in)
		if err != nil {
			return nil, err
		}
		w.incidents = append(w.incidents, record{idKey(in.ID), val})
	}
	for i := range c.Events {
		ev := &c.Events[i]
		val, err := json.Marshal(ev)
		if err != nil {
			return nil, err
		}
		w.events = append(w.events, record{eventKey(ev.Incident, ev.Seq), val})
	}
	return w, nil
}

func size(w *writes) (n int) {
	for _, recs := range [][]record{w.alerts, w.incidents, w.events} {
		for _, r := range recs {
			n += len(r.key) + len(r.val)
		}
	}
	return n
}

// BenchmarkEncode100Alerts measures the encoding that Apply does outside
// the transaction for one webhook of 100 alerts: the codec against the JSON
// of schema 1.
func BenchmarkEncode100Alerts(b *testing.B) {
	c := benchChanges(benchTemplate(), 1000)
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		var w *writes
		for b.Loop() {
			w, _ = encode(c)
		}
		b.ReportMetric(float64(size(w)), "bytes")
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		var w *writes
		for b.Loop() {
			var err error
			if w, err = jsonEncode(c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size(w)), "bytes")
	})
}

// BenchmarkDecode100Alerts measures what Load does per webhook's worth of
// records, codec against JSON.
func BenchmarkDecode100Alerts(b *testing.B) {
	c := benchChanges(benchTemplate(), 1000)
	b.Run("codec", func(b *testing.B) {
		w, _ := encode(c)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decode(bucketAlerts, w.alerts, 8, decodeAlertRecord); err != nil {
				b.Fatal(err)
			}
			if _, err := decode(bucketIncidents, w.incidents, 8, decodeIncidentRecord); err != nil {
				b.Fatal(err)
			}
			if _, err := decode(bucketEvents, w.events, 12, decodeEventRecord); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json", func(b *testing.B) {
		w, err := jsonEncode(c)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			as := make([]engine.Alert, len(w.alerts))
			for i, r := range w.alerts {
				if err := json.Unmarshal(r.val[8:], &as[i]); err != nil {
					b.Fatal(err)
				}
			}
			ins := make([]engine.Incident, len(w.incidents))
			for i, r := range w.incidents {
				if err := json.Unmarshal(r.val[8:], &ins[i]); err != nil {
					b.Fatal(err)
				}
			}
			evs := make([]engine.TimelineEvent, len(w.events))
			for i, r := range w.events {
				if err := json.Unmarshal(r.val, &evs[i]); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// encode carves the values of a Changes from a few allocations, yet each is
// its own exactly-sized slice: appending to one cannot overwrite another.
func TestEncodeValuesAreSeparate(t *testing.T) {
	c := benchChanges(benchTemplate(), 1000)
	if n := testing.AllocsPerRun(10, func() { _, _ = encode(c) }); n > 12 {
		t.Errorf("encode makes %v allocations, want at most 12", n)
	}
	w, _ := encode(c)
	for _, recs := range [][]record{w.alerts, w.incidents, w.events} {
		for i, r := range recs {
			if len(r.key) != cap(r.key) || len(r.val) != cap(r.val) {
				t.Fatalf("record %d: key %d/%d, value %d/%d bytes (len/cap)", i, len(r.key), cap(r.key), len(r.val), cap(r.val))
			}
		}
	}
	// Growing a value must not touch its neighbour.
	next := bytes.Clone(w.alerts[1].val)
	_ = append(w.alerts[0].val, bytes.Repeat([]byte{0xee}, 64)...)
	if !bytes.Equal(w.alerts[1].val, next) {
		t.Error("appending to one value changed the next")
	}
	// And every record decodes as itself.
	for i, r := range w.alerts {
		var a engine.Alert
		if err := decodeAlertRecord(r.key, r.val, &a); err != nil || !reflect.DeepEqual(&a, c.Alerts[i]) {
			t.Fatalf("alert %d: %v: %s", i, err, diffFields(&a, c.Alerts[i]))
		}
	}
	for i, r := range w.events {
		var ev engine.TimelineEvent
		if err := decodeEventRecord(r.key, r.val, &ev); err != nil || ev != c.Events[i] {
			t.Fatalf("event %d: %v: %s", i, err, diffFields(&ev, &c.Events[i]))
		}
	}
}

// A slab sizes its allocations by the records still to come.
func TestSlab(t *testing.T) {
	s := slab{left: 3}
	if a := s.alloc(10); len(a) != 0 || cap(a) != 10 || cap(s.buf) != 30 {
		t.Fatalf("first value %d/%d (len/cap) from %d bytes; want 0/10 from 30", len(a), cap(a), cap(s.buf))
	}
	if b := s.alloc(10); cap(b) != 10 || len(s.buf) != 20 || cap(s.buf) != 30 {
		t.Fatalf("second value of %d from %d/%d bytes; want 10 from 20/30", cap(b), len(s.buf), cap(s.buf))
	}
	// 10 bytes left: the last record, larger, gets a new allocation.
	if c := s.alloc(12); cap(c) != 12 || cap(s.buf) != 12 || s.left != 0 {
		t.Fatalf("third value of %d from %d bytes, %d left; want 12 from 12, 0 left", cap(c), cap(s.buf), s.left)
	}
	var zero slab
	if d := zero.alloc(5); len(d) != 0 || cap(d) != 5 || cap(zero.buf) != 5 {
		t.Errorf("zero slab: value %d/%d from %d bytes; want 0/5 from 5", len(d), cap(d), cap(zero.buf))
	}
	big := slab{left: 1000}
	if big.alloc(1000); cap(big.buf) != maxSlab {
		t.Errorf("allocation of %d bytes, want the cap %d", cap(big.buf), maxSlab)
	}
}

// The codec writes what the JSON of schema 1 held, record for record.
func TestEncodeMatchesJSONRecords(t *testing.T) {
	c := benchChanges(benchTemplate(), 1000)
	w, _ := encode(c)
	old, err := jsonEncode(c)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range w.alerts {
		if !bytes.Equal(r.key, old.alerts[i].key) || !bytes.Equal(r.val[:8], old.alerts[i].val[:8]) {
			t.Errorf("alert %d: key %x rev %x, JSON had %x %x", i, r.key, r.val[:8], old.alerts[i].key, old.alerts[i].val[:8])
		}
		var a engine.Alert
		if err := decodeAlertRecord(r.key, r.val, &a); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&a, c.Alerts[i]) {
			t.Errorf("alert %d: got %+v, want %+v", i, a, c.Alerts[i])
		}
	}
	for i, r := range w.events {
		if !bytes.Equal(r.key, old.events[i].key) {
			t.Errorf("event %d: key %x, JSON had %x", i, r.key, old.events[i].key)
		}
	}
	for i, r := range w.incidents {
		if !bytes.Equal(r.key, old.incidents[i].key) {
			t.Errorf("incident %d: key %x, JSON had %x", i, r.key, old.incidents[i].key)
		}
	}
	t.Logf("100-alert webhook: %d bytes, JSON %d", size(w), size(old))
}

// decode decodes each record of bucket with dec, which is given a key of
// keyLen bytes.
func decode[T any](bucket []byte, recs []record, keyLen int, dec func(key, val []byte, v *T) error) ([]T, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	out := make([]T, len(recs))
	for i, r := range recs {
		if len(r.key) != keyLen {
			return nil, fmt.Errorf("decode %s %x: malformed key", bucket, r.key)
		}
		if err := dec(r.key, r.val, &out[i]); err != nil {
			return nil, fmt.Errorf("decode %s %x: %w", bucket, r.key, err)
		}
	}
	return out, nil
}
