package rules

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse: no config, however broken, makes the loader panic; it either
// loads or says why, as Errors.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/invalid/*.yml")
	seeds = append(seeds, "testdata/valid.yml", "../testdata/seed-policy.yml", "default.yml")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	env := func(name string) (string, bool) { return "x", name != "UNSET" }
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("f.yml", data, env)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		if cfg == nil || len(cfg.Levels) == 0 {
			t.Fatalf("loaded a config without levels")
		}
	})
}
