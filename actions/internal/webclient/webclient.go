// Package webclient is what the actions that call an HTTP API (http,
// kubernetes) share: loading a CA file, a client that never follows a
// redirect, and how a cancelled request is described.
package webclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// LoadCA reads a PEM CA bundle.
func LoadCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// Client is a client with tlsConfig that makes one request per call: a
// redirect is an answer, not an instruction, so secret headers and tokens
// never follow it to another host.
func Client(tlsConfig *tls.Config) *http.Client {
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if def, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = def.Clone()
	}
	tr.TLSClientConfig = tlsConfig
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Ended says why a request whose context ended stopped: the caller's
// cancel, the caller's deadline, or the action's own timeout.
func Ended(parent context.Context, timeout time.Duration) string {
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		return "cancelled"
	case parent.Err() != nil:
		return "timed out"
	}
	return fmt.Sprintf("timed out (timeout %s)", timeout)
}
