package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/remediator/remediator/store/bolt"
)

// compact rewrites a store file offline to its live size, as `bbolt
// compact` does: a prune frees pages that later writes reuse, but the file
// never shrinks by itself. It writes FILE.compacting and renames it over
// FILE, so a crash midway leaves FILE as it was. remediator must be
// stopped: the file's lock is checked.
func compact(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	db := fs.String("db", "", "bbolt file to compact (required; remediator must be stopped)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *db == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "compact: --db FILE is required, and nothing else")
		return 2
	}
	before, err := os.Stat(*db)
	if err != nil {
		fmt.Fprintf(stderr, "compact: %v\n", err)
		return 1
	}
	tmp := *db + ".compacting"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(stderr, "compact: %v\n", err)
		return 1
	}
	if err := bolt.Compact(tmp, *db, time.Second); err != nil {
		os.Remove(tmp)
		fmt.Fprintf(stderr, "compact: %v (is remediator still running on it?)\n", err)
		return 1
	}
	if err := os.Rename(tmp, *db); err != nil {
		os.Remove(tmp)
		fmt.Fprintf(stderr, "compact: %v\n", err)
		return 1
	}
	after, err := os.Stat(*db)
	if err != nil {
		fmt.Fprintf(stderr, "compact: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "compacted %s: %d → %d bytes\n", *db, before.Size(), after.Size())
	return 0
}
