package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"

	"github.com/remediator/remediator/engine"
)

// message is Alertmanager's webhook payload (version 4). It embeds the
// template types Alertmanager itself uses and adds the webhook-only
// fields. Alerts shadows Data.Alerts so that a malformed time names its
// field. Newer fields (notification_reason, routeLabels, …) are ignored.
type message struct {
	template.Data
	Alerts          []wireAlert `json:"alerts"`
	Version         string      `json:"version"`
	GroupKey        string      `json:"groupKey"`
	TruncatedAlerts uint64      `json:"truncatedAlerts"`
}

type wireAlert struct {
	template.Alert
	StartsAt startsAt `json:"startsAt"`
	EndsAt   endsAt   `json:"endsAt"`
}

type startsAt struct{ time.Time }
type endsAt struct{ time.Time }

func (t *startsAt) UnmarshalJSON(b []byte) error { return parseTime(&t.Time, "startsAt", b) }
func (t *endsAt) UnmarshalJSON(b []byte) error   { return parseTime(&t.Time, "endsAt", b) }

func parseTime(dst *time.Time, field string, b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &DecodeError{Field: "alerts[]." + field, Msg: fmt.Sprintf("expected an RFC 3339 time string, got %s", truncate(string(b), 40))}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return &DecodeError{Field: "alerts[]." + field, Msg: fmt.Sprintf("%q is not an RFC 3339 time", truncate(s, 40))}
	}
	*dst = t
	return nil
}

// The range of every time the API accepts: what JSON (RFC 3339, a
// four-digit year) can write back once the time is in UTC, as the store
// and the answers write it.
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
)

// checkTime refuses a time outside minTime–maxTime, written the way it
// was given; the zero time passes when zeroOK (where it means "unset").
func checkTime(t time.Time, zeroOK bool) error {
	if (zeroOK && t.IsZero()) || (!t.Before(minTime) && !t.After(maxTime)) {
		return nil
	}
	return fmt.Errorf("%s is out of range (years 1970 to 9999 in UTC)", t.Format(time.RFC3339Nano))
}

// DecodeError is a webhook payload that cannot be accepted. Field names
// the offending JSON field when known.
type DecodeError struct {
	Field string
	Msg   string
}

func (e *DecodeError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// DecodeWebhook reads and validates one Alertmanager webhook payload. Every
// returned alert has a fingerprint (computed from its labels when the
// payload has none) and a status of firing or resolved.
func DecodeWebhook(r io.Reader) (*engine.Webhook, error) {
	var m message
	dec := json.NewDecoder(r)
	if err := dec.Decode(&m); err != nil {
		return nil, jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, jsonError(err)
		}
		return nil, &DecodeError{Msg: "unexpected data after the JSON object"}
	}
	return validate(&m)
}

func jsonError(err error) error {
	var (
		syn *json.SyntaxError
		typ *json.UnmarshalTypeError
		de  *DecodeError
	)
	switch {
	case errors.As(err, &de):
		return de
	case errors.As(err, &typ):
		field := jsonField(typ.Field)
		if field == "" {
			field = "(top level)"
		}
		return &DecodeError{Field: field, Msg: fmt.Sprintf("expected %s, got %s", jsonType(typ.Type), typ.Value)}
	case errors.As(err, &syn):
		return &DecodeError{Msg: fmt.Sprintf("malformed JSON at byte %d: %v", syn.Offset, syn)}
	case errors.Is(err, io.EOF):
		return &DecodeError{Msg: "empty body: expected an Alertmanager webhook JSON object"}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return &DecodeError{Msg: "malformed JSON: unexpected end of input"}
	}
	return err // a read error (e.g. body too large): the caller maps it
}

func jsonType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a non-negative integer"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "an integer"
	}
	return t.String()
}

// jsonField turns encoding/json's Go path (which names embedded structs,
// e.g. "alerts.Alert.labels") into the payload's field path.
func jsonField(goPath string) string {
	parts := strings.Split(goPath, ".")
	out := parts[:0]
	for _, p := range parts {
		if p != "Data" && p != "Alert" {
			out = append(out, p)
		}
	}
	return strings.Join(out, ".")
}

func validate(m *message) (*engine.Webhook, error) {
	if m.Version != "" && m.Version != "4" {
		return nil, &DecodeError{Field: "version", Msg: fmt.Sprintf("unsupported webhook version %q (remediator reads version 4)", truncate(m.Version, 20))}
	}
	if m.Receiver == "" {
		return nil, &DecodeError{Field: "receiver", Msg: "required"}
	}
	if len(m.Alerts) == 0 {
		return nil, &DecodeError{Field: "alerts", Msg: "at least one alert is required"}
	}
	w := &engine.Webhook{
		Receiver:          m.Receiver,
		Status:            m.Status,
		GroupKey:          m.GroupKey,
		ExternalURL:       m.ExternalURL,
		GroupLabels:       nonNil(m.GroupLabels),
		CommonLabels:      nonNil(m.CommonLabels),
		CommonAnnotations: nonNil(m.CommonAnnotations),
		TruncatedAlerts:   int(min(m.TruncatedAlerts, 1<<31)),
		Alerts:            make([]engine.WebhookAlert, len(m.Alerts)),
	}
	if w.GroupKey == "" {
		w.GroupKey = labelsKey(w.GroupLabels)
	}
	for i := range m.Alerts {
		a := &m.Alerts[i]
		field := func(f string) string { return fmt.Sprintf("alerts[%d].%s", i, f) }
		if a.Status != engine.StatusFiring && a.Status != engine.StatusResolved {
			return nil, &DecodeError{Field: field("status"), Msg: fmt.Sprintf("must be %q or %q, got %q", engine.StatusFiring, engine.StatusResolved, truncate(a.Status, 20))}
		}
		if len(a.Labels) == 0 {
			return nil, &DecodeError{Field: field("labels"), Msg: "an alert needs at least one label"}
		}
		fp := a.Fingerprint
		if fp == "" {
			fp = model.LabelSet(toLabelSet(a.Labels)).Fingerprint().String()
		} else if len(fp) > 128 {
			return nil, &DecodeError{Field: field("fingerprint"), Msg: "longer than 128 characters"}
		}
		// The zero time is Alertmanager's "unset" (the endsAt of a firing
		// alert).
		if err := checkTime(a.StartsAt.Time, true); err != nil {
			return nil, &DecodeError{Field: field("startsAt"), Msg: err.Error()}
		}
		if err := checkTime(a.EndsAt.Time, true); err != nil {
			return nil, &DecodeError{Field: field("endsAt"), Msg: err.Error()}
		}
		w.Alerts[i] = engine.WebhookAlert{
			Fingerprint:  fp,
			Status:       a.Status,
			Labels:       a.Labels,
			Annotations:  nonNil(a.Annotations),
			StartsAt:     a.StartsAt.Time,
			EndsAt:       a.EndsAt.Time,
			GeneratorURL: a.GeneratorURL,
		}
	}
	// A sender's commonLabels and groupLabels are kept only where every
	// alert of the payload has them, with the same value: they become the
	// incident's labels, and a phone silence silences them, so a payload
	// must not widen them (commonLabels {severity: critical} on one alert
	// would silence every critical alert). Alertmanager's always hold.
	w.CommonLabels = sharedBy(w.CommonLabels, w.Alerts)
	w.GroupLabels = sharedBy(w.GroupLabels, w.Alerts)
	return w, nil
}

// sharedBy returns the labels of m that every alert has, with the same
// value (m itself when they all do).
func sharedBy(m map[string]string, alerts []engine.WebhookAlert) map[string]string {
	notShared := func(k, v string) bool { return !allHave(alerts, k, v) }
	for k, v := range m {
		if notShared(k, v) {
			out := maps.Clone(m)
			maps.DeleteFunc(out, notShared)
			return out
		}
	}
	return m
}

func allHave(alerts []engine.WebhookAlert, k, v string) bool {
	for i := range alerts {
		if got, ok := alerts[i].Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func toLabelSet(kv template.KV) model.LabelSet {
	ls := make(model.LabelSet, len(kv))
	for k, v := range kv {
		ls[model.LabelName(k)] = model.LabelValue(v)
	}
	return ls
}

// labelsKey builds a group key for payloads that carry none (very old
// Alertmanagers), the way Alertmanager writes them: {} joined labels.
func labelsKey(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%q", k, kv[k])
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func nonNil(kv template.KV) map[string]string {
	if kv == nil {
		return map[string]string{}
	}
	return kv
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// timeParam reads the RFC 3339 time of the query parameter key, def when
// it is absent.
func timeParam(q url.Values, key string, def time.Time) (time.Time, error) {
	v := q.Get(key)
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %q is not an RFC 3339 time (2026-11-27T10:00:00+08:00): %w", key, truncate(v, 40), engine.ErrInvalid)
	}
	if err := checkTime(t, false); err != nil {
		return time.Time{}, fmt.Errorf("%s: %w: %w", key, err, engine.ErrInvalid)
	}
	return t, nil
}

// bodyTime is a time field of a JSON request body (nil: absent).
type bodyTime struct {
	field string
	t     *time.Time
}

// bodyTimes checks the time fields of a request body; a zero time passes
// (it is what an absent one means).
func bodyTimes(ts ...bodyTime) error {
	for _, bt := range ts {
		if bt.t == nil {
			continue
		}
		if err := checkTime(*bt.t, true); err != nil {
			return fmt.Errorf("%s: %w: %w", bt.field, err, engine.ErrInvalid)
		}
	}
	return nil
}
