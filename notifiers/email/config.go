package email

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// TLS modes of an EmailConfig.
const (
	// TLSNone is plain SMTP: no TLS, and so no AUTH.
	TLSNone = "none"
	// TLSStartTLS upgrades the connection with STARTTLS before anything
	// else is sent; a server that does not offer it is refused.
	TLSStartTLS = "starttls"
	// TLSImplicit is SMTP inside TLS from the first byte (SMTPS, port 465).
	TLSImplicit = "tls"
)

// Defaults of an EmailConfig's zero values.
const (
	DefaultTLS     = TLSStartTLS
	DefaultHello   = "localhost"
	DefaultTimeout = 30 * time.Second
)

// settings is a checked EmailConfig with its defaults applied.
type settings struct {
	addr    string // HOST:PORT, as configured
	host    string
	port    int
	mode    string
	hello   string
	timeout time.Duration
	from    *mail.Address
	domain  string // of from: the right part of every Message-ID
	tls     *tls.Config
	creds   *credentials
	set     *message.Set
}

// credentials are the SMTP AUTH username and password. They sit behind a
// pointer in Notifier: fmt prints a nested pointer as an address, never
// the unexported password field it cannot call Secret's methods on.
type credentials struct {
	username string
	password rules.Secret
}

// parseConfig checks c and applies its defaults. Every problem is
// reported, each named by its configuration key, joined; none quotes the
// password.
func parseConfig(c *rules.EmailConfig) (*settings, error) {
	s := &settings{
		mode:    c.TLS,
		hello:   c.Hello,
		timeout: c.Timeout.D(),
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf("email: "+format, args...)) }

	host, port, err := splitSmarthost(c.Smarthost)
	if err != nil {
		fail("smarthost: %w", err)
	}
	s.addr, s.host, s.port = c.Smarthost, host, port

	switch s.mode {
	case "":
		s.mode = DefaultTLS
	case TLSNone, TLSStartTLS, TLSImplicit:
	default:
		fail("tls %q: want %s, %s or %s", c.TLS, TLSNone, TLSStartTLS, TLSImplicit)
	}

	switch {
	case s.hello == "":
		s.hello = DefaultHello
	case strings.ContainsAny(s.hello, " \t\r\n"):
		fail("hello %q: an EHLO name holds no space or line break", c.Hello)
	}

	switch {
	case s.timeout == 0:
		s.timeout = DefaultTimeout
	case s.timeout < 0:
		fail("timeout %s is negative", c.Timeout)
	}

	if c.From == "" {
		fail("from is required")
	} else if from, err := mail.ParseAddress(c.From); err != nil {
		fail("from %q: %w", c.From, err)
	} else {
		s.from = from
		s.domain = from.Address[strings.LastIndexByte(from.Address, '@')+1:]
		if !isDotAtom(s.domain) {
			fail("from %q: the domain must be ASCII (punycode) to build Message-IDs", c.From)
		}
	}

	switch {
	case c.Username == "" && c.Password.Value() != "":
		fail("password is set without username")
	case c.Username != "" && s.mode == TLSNone:
		// The password would cross the network in the clear.
		fail("username needs tls %s or %s: credentials are never sent without TLS", TLSStartTLS, TLSImplicit)
	case c.Username != "":
		s.creds = &credentials{username: c.Username, password: c.Password}
	}

	s.tls = &tls.Config{
		ServerName:         host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: c.InsecureSkipVerify, //nolint:gosec // the user's explicit choice
	}
	if c.CAFile != "" {
		pool, err := loadCA(c.CAFile)
		if err != nil {
			fail("ca_file: %w", err)
		}
		s.tls.RootCAs = pool
	}

	overrides := make(map[string]message.Template, len(c.Templates))
	for ev, t := range c.Templates {
		overrides[ev] = message.Template{Title: t.Title, Body: t.Body, HTML: t.HTML}
	}
	set, err := message.Compile(message.KindEmail, overrides)
	if err != nil {
		fail("%w", err)
	}
	s.set = set

	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// splitSmarthost checks HOST:PORT.
func splitSmarthost(addr string) (host string, port int, err error) {
	if addr == "" {
		return "", 0, errors.New("is required (HOST:PORT)")
	}
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("%q is not HOST:PORT", addr)
	}
	if host == "" {
		return "", 0, fmt.Errorf("%q has no host", addr)
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("%q: port %q is not a number from 1 to 65535", addr, p)
	}
	return host, port, nil
}

// loadCA reads a PEM CA bundle.
func loadCA(path string) (*x509.CertPool, error) {
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

// isDotAtom reports whether s is an RFC 5322 dot-atom-text: what either
// side of a Message-ID may be.
func isDotAtom(s string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~.", c) >= 0:
		default:
			return false
		}
	}
	return true
}
