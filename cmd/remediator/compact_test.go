package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/store/bolt"
)

func TestCompactShrinksAPrunedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	s, err := bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// 200 resolved incidents of 50 alerts each, and one open one.
	var id uint64
	for i := range 201 {
		c := &engine.Changes{}
		in := &engine.Incident{ID: uint64(i + 1), Rev: 1, Key: fmt.Sprint("k", i), CreatedAt: t0, Status: engine.IncidentResolved, ResolvedAt: t0}
		if i == 200 {
			in.Status, in.ResolvedAt = engine.IncidentOpen, time.Time{}
		}
		for range 50 {
			id++
			c.Alerts = append(c.Alerts, &engine.Alert{ID: id, Rev: 1, Fingerprint: fmt.Sprintf("%016x", id), Status: engine.StatusResolved,
				Labels: map[string]string{"alertname": "Disk", "instance": strings.Repeat("x", 100)}, Incident: in.ID, FirstSeen: t0, LastSeen: t0})
			in.Alerts = append(in.Alerts, id)
		}
		c.Incidents = append(c.Incidents, in)
		if err := s.Apply(context.Background(), c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(context.Background(), engine.PruneRequest{ResolvedBefore: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// While the store is open the file is locked: compact refuses.
	var out, errb bytes.Buffer
	if code := run([]string{"compact", "--db", path}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "still running") {
		t.Fatalf("compact of an open file: exit %d, %q; want 1 and a hint", code, errb.String())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Stat(path)
	out.Reset()
	errb.Reset()
	if code := run([]string{"compact", "--db", path}, &out, &errb); code != 0 {
		t.Fatalf("compact: exit %d, %s", code, errb.String())
	}
	after, _ := os.Stat(path)
	if after.Size() >= before.Size()/2 {
		t.Fatalf("compact: %d → %d bytes, want less than half (200 of 201 incidents were pruned)", before.Size(), after.Size())
	}
	if !strings.Contains(out.String(), "compacted") {
		t.Errorf("compact printed %q", out.String())
	}
	// What was live is still there, and the file opens as a store.
	s, err = bolt.Open(path, bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Incidents) != 1 || snap.Incidents[0].ID != 201 || len(snap.Alerts) != 50 {
		t.Fatalf("after compact: %d incidents, %d alerts; want the open incident and its 50 alerts", len(snap.Incidents), len(snap.Alerts))
	}
}

func TestCompactBadInput(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"compact"}, 2, "--db FILE is required"},
		{[]string{"compact", "--db", filepath.Join(dir, "r.db"), "extra"}, 2, "--db FILE is required"},
		{[]string{"compact", "--db", filepath.Join(dir, "missing.db")}, 1, "no such file"},
		{[]string{"compact", "--nope"}, 2, "flag provided but not defined"},
	} {
		var out, errb bytes.Buffer
		if code := run(tt.args, &out, &errb); code != tt.code || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("%v: exit %d, %q; want %d and %q", tt.args, code, errb.String(), tt.code, tt.want)
		}
	}
}
