package kubernetes

import (
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKubeconfig: a kubeconfig's context gives the server, its CA and the
// token; what the action cannot use is a precise error without the token.
func TestKubeconfig(t *testing.T) {
	srv := newAPIServer(t, true)
	srv.add("deployments", "shop", "web", 1)
	caData := base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	dir := t.TempDir()
	write := func(name, users string) string {
		t.Helper()
		body := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: prod
contexts:
  - name: prod
    context: {cluster: prod, user: remediator}
  - name: orphan
    context: {cluster: gone, user: remediator}
clusters:
  - name: prod
    cluster:
      server: %s
      certificate-authority-data: %s
users:
%s`, srv.URL, caData, users)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "  - name: remediator\n    user: {token: "+testToken+"}\n")
	c := config(srv, "rollout_restart", "Deployment")
	c.APIServer, c.Token, c.Kubeconfig = "", "", good
	if _, res := run(t, mustNew(t, &c), webLabels); !res.OK {
		t.Fatalf("run through the kubeconfig: %+v", res)
	}

	tests := []struct {
		name, file, context, want string
	}{
		// A context that is not in the file.
		{"no context", good, "staging", `no context "staging"`},
		// A context whose cluster is missing.
		{"missing cluster", good, "orphan", `names cluster "gone", which is not there`},
		// Client certificates are not supported.
		{"client cert", write("cert", "  - name: remediator\n    user: {client-certificate-data: Zm9v}\n"), "", "client certificates, exec plugins and auth providers are not supported"},
		// Not YAML at all.
		{"garbage", func() string { p := filepath.Join(dir, "bad"); _ = os.WriteFile(p, []byte("{{{"), 0o600); return p }(), "", "not a kubeconfig"},
		// A file that does not exist.
		{"missing", filepath.Join(dir, "nope"), "", "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := config(srv, "rollout_restart", "Deployment")
			c.APIServer, c.Token, c.Kubeconfig, c.Context = "", "", tt.file, tt.context
			_, err := New(&c)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), testToken) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// kubeconfig with api_server is ambiguous.
	c = config(srv, "rollout_restart", "Deployment")
	c.Kubeconfig = good
	if _, err := New(&c); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("kubeconfig and api_server: %v", err)
	}
}
