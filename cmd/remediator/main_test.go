package main

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := runCLI("version")
	if code != 0 || !strings.HasPrefix(out, "remediator ") || !strings.Contains(out, runtime.Version()) {
		t.Fatalf("version: %d %q", code, out)
	}
	// No command, and an unknown command: usage on stderr, exit 2.
	for _, args := range [][]string{nil, {"frobnicate"}} {
		code, _, errOut := runCLI(args...)
		if code != 2 || !strings.Contains(errOut, "usage:") {
			t.Fatalf("%v: %d %q", args, code, errOut)
		}
	}
	// An unknown flag.
	if code, _, errOut := runCLI("check", "--nope"); code != 2 || !strings.Contains(errOut, "flag provided but not defined: -nope") {
		t.Fatalf("bad flag: %d %q", code, errOut)
	}
}

func TestCheck(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yml", "server:\n  listen: 127.0.0.1:9999\n")
	bad := writeFile(t, dir, "bad.yml", "server:\n  lisen: 127.0.0.1:9999\n  max_body_bytes: lots\n")
	invalid := writeFile(t, dir, "invalid.yml", "server:\n  listen: 0.0.0.0:9999\nauth:\n  tokens:\n    - {name: a, role: root, token: 0123456789abcdef}\n")

	// The embedded default and a good file pass with a one-line summary.
	for _, args := range [][]string{{"check"}, {"check", "--config", good}} {
		code, out, errOut := runCLI(args...)
		if code != 0 || len(lines(out)) != 1 || errOut != "" {
			t.Fatalf("%v: %d %q %q", args, code, out, errOut)
		}
	}
	// A bad file: every error, each as FILE:LINE:COL: message, exit 1.
	code, out, errOut := runCLI("check", "--config", bad)
	got := lines(errOut)
	lineRE := regexp.MustCompile(`^` + regexp.QuoteMeta(bad) + `:\d+:\d+: .+`)
	if code != 1 || out != "" || len(got) != 2 {
		t.Fatalf("bad config: code %d, stdout %q, stderr:\n%s", code, out, errOut)
	}
	for _, l := range got {
		if !lineRE.MatchString(l) {
			t.Errorf("line %q is not FILE:LINE:COL: message", l)
		}
	}
	for _, want := range []string{bad + `:2:3: unknown key "lisen" in server`, bad + `:3:19: server.max_body_bytes: "lots" is not an integer`} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// Once the file decodes, every validation error is reported with its position.
	code, _, errOut = runCLI("check", "--config", invalid)
	if code != 1 || len(lines(errOut)) != 2 || !strings.Contains(errOut, invalid+`:5:23: auth.tokens[0].role: "root" is not a role`) ||
		!strings.Contains(errOut, invalid+":2:11: server.listen:") {
		t.Fatalf("invalid config: %d\n%s", code, errOut)
	}
	// A file that does not exist.
	if code, _, errOut := runCLI("check", "--config", filepath.Join(dir, "missing.yml")); code != 1 || !strings.Contains(errOut, "missing.yml") {
		t.Fatalf("missing file: %d %q", code, errOut)
	}
}

// TestServeRefusals: configurations that must not start.
func TestServeRefusals(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		// A public address with no API tokens.
		{"public without tokens", []string{"--listen", "0.0.0.0:0", "--db", filepath.Join(dir, "a.db")}, "not a loopback address"},
		// A config file that does not exist.
		{"missing config", []string{"--config", filepath.Join(dir, "nope.yml")}, "nope.yml"},
		// A store path that cannot be created (a file stands where the folder should be).
		{"bad db path", []string{"--listen", "127.0.0.1:0", "--db", filepath.Join(writeFile(t, dir, "file", "x"), "r.db")}, "open store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := start(t, nil, binary, append([]string{"serve"}, tt.args...)...)
			if code := p.wait(20 * time.Second); code != 1 || !strings.Contains(p.out.String(), tt.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit 1 mentioning %q", code, p.out, tt.want)
			}
		})
	}
}

func TestSecondProcessOnSameStoreFailsClearly(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	startRemediator(t, nil, "--listen", "127.0.0.1:0", "--db", db)
	cfg := writeFile(t, t.TempDir(), "lock.yml", fmt.Sprintf("storage:\n  path: %s\n  lock_timeout: 200ms\n", db))
	second := start(t, nil, binary, "serve", "--config", cfg, "--listen", "127.0.0.1:0")
	if code := second.wait(20 * time.Second); code != 1 || !strings.Contains(second.out.String(), "locked by another process") {
		t.Fatalf("second process: exit %d\n%s", code, second.out)
	}
}

// TestSignals: SIGHUP reloads (a bad file keeps the running config),
// SIGTERM drains an in-flight request and exits 0.
func TestSignals(t *testing.T) {
	dir := t.TempDir()
	cfgText := fmt.Sprintf("server:\n  listen: 127.0.0.1:0\nstorage:\n  path: %s\n", filepath.Join(dir, "r.db"))
	cfg := writeFile(t, dir, "r.yml", cfgText)
	p, base := startRemediator(t, nil, "--config", cfg)

	metric := func() string {
		_, body := request(t, "GET", base+"/metrics", "", nil)
		m := regexp.MustCompile(`(?m)^remediator_config_last_reload_successful (\S+)$`).FindStringSubmatch(string(body))
		if m == nil {
			t.Fatalf("no reload metric in:\n%s", body)
		}
		return m[1]
	}
	writeFile(t, dir, "r.yml", cfgText+"bogus: true\n")
	p.signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the failed reload", func() bool { return metric() == "0" })
	if !strings.Contains(p.out.String(), `unknown key \"bogus\"`) {
		t.Fatalf("the failed reload does not say why:\n%s", p.out)
	}
	if status, _ := request(t, "GET", base+"/-/ready", "", nil); status != 200 {
		t.Fatalf("not ready after a failed reload: %d", status)
	}
	writeFile(t, dir, "r.yml", cfgText)
	p.signal(syscall.SIGHUP)
	waitFor(t, 10*time.Second, "the good reload", func() bool { return metric() == "1" })
	// Both reloads are in the audit log, the failed one with its reason.
	waitFor(t, 10*time.Second, "the reloads in the audit log", func() bool {
		_, body := request(t, "GET", base+"/api/v1/audit?action=config.reload", "", nil)
		s := string(body)
		return strings.Count(s, `"actor":"signal:SIGHUP"`) == 2 && strings.Contains(s, `"outcome":"failed"`) && strings.Contains(s, `"outcome":"ok"`)
	})

	// Start a webhook request and leave its body unfinished.
	body := []byte(`{"receiver":"r","groupKey":"g","alerts":[{"status":"firing","labels":{"alertname":"Drain"},"startsAt":"2026-11-25T10:00:00Z"}]}`)
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	_, _ = conn.Write(body[:10])
	// A request on a second, new connection completes only after the
	// server accepted the first one (the listen queue is FIFO), so the
	// unfinished request is in flight when the signal arrives.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	if resp, err := fresh.Get(base + "/-/healthy"); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	p.signal(syscall.SIGTERM)
	waitFor(t, 10*time.Second, "the shutdown to start", func() bool { return strings.Contains(p.out.String(), "shutting down") })
	_, _ = conn.Write(body[10:])
	reply := make([]byte, 512)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _ := conn.Read(reply)
	if !strings.HasPrefix(string(reply[:n]), "HTTP/1.1 200") {
		t.Fatalf("in-flight request during shutdown got %q", reply[:n])
	}
	if code := p.wait(20 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM", code)
	}
	// The drained request's alert is on disk.
	_, base = startRemediator(t, nil, "--config", cfg)
	if incs := listIncidents(t, base, ""); len(incs) != 1 || incs[0].Title != "Drain" {
		t.Fatalf("after restart: %+v", incs)
	}
}
