package email

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	gosmtp "github.com/emersion/go-smtp"
	mail "github.com/wneessen/go-mail"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

const (
	testUser     = "alerts@remediator.example"
	testPassword = "pa55-hunter2-ZQ"
	testFrom     = "Remediator <alerts@remediator.example>"
)

// testNow is the clock of every notifier under test.
var testNow = time.Date(2025, 3, 1, 8, 30, 0, 0, time.UTC)

// testZone is where times are written: China Standard Time.
var testZone = time.FixedZone("CST", 8*3600)

// --- an in-process SMTP server (go-smtp) ---

// serverConfig is how a test server behaves.
type serverConfig struct {
	mode string // TLSNone, TLSStartTLS (offered) or TLSImplicit
	cert *tls.Certificate
	// users enables AUTH with these username → password pairs, offering
	// mechs (default PLAIN).
	users map[string]string
	mechs []string
	// authErr, when set, is the answer to any AUTH (a 454, or a 535 that
	// echoes what the client sent).
	authErr func(user, pass string) error
	// insecureAuth offers AUTH without TLS.
	insecureAuth bool
	// fail makes a stage fail: "session" (EHLO), "mail", "rcpt" or "data".
	fail map[string]*gosmtp.SMTPError
}

// delivery is one message the server accepted.
type delivery struct {
	From string
	To   []string
	Data []byte
	TLS  bool
	User string
}

// authAttempt is one AUTH the server saw.
type authAttempt struct {
	Mech string
	User string
	TLS  bool
}

// backend records what the server received.
type backend struct {
	cfg serverConfig

	mu         sync.Mutex
	deliveries []delivery
	auths      []authAttempt
}

func (b *backend) NewSession(c *gosmtp.Conn) (gosmtp.Session, error) {
	if err := b.cfg.fail["session"]; err != nil {
		return nil, err
	}
	return &session{be: b, conn: c}, nil
}

func (b *backend) received() []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]delivery(nil), b.deliveries...)
}

func (b *backend) authAttempts() []authAttempt {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]authAttempt(nil), b.auths...)
}

// session is one SMTP connection's transaction.
type session struct {
	be   *backend
	conn *gosmtp.Conn
	user string
	cur  delivery
}

var _ gosmtp.AuthSession = (*session)(nil)

func (s *session) AuthMechanisms() []string {
	if s.be.cfg.users == nil {
		return nil
	}
	if s.be.cfg.mechs != nil {
		return s.be.cfg.mechs
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		_, isTLS := s.conn.TLSConnectionState()
		s.be.mu.Lock()
		s.be.auths = append(s.be.auths, authAttempt{Mech: mech, User: user, TLS: isTLS})
		s.be.mu.Unlock()
		if s.be.cfg.authErr != nil {
			return s.be.cfg.authErr(user, pass)
		}
		if want, ok := s.be.cfg.users[user]; !ok || want != pass {
			return gosmtp.ErrAuthFailed
		}
		s.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, gosmtp.ErrAuthUnknownMechanism
}

func (s *session) Mail(from string, _ *gosmtp.MailOptions) error {
	if err := s.be.cfg.fail["mail"]; err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.cur = delivery{From: from, TLS: isTLS, User: s.user}
	return nil
}

func (s *session) Rcpt(to string, _ *gosmtp.RcptOptions) error {
	if err := s.be.cfg.fail["rcpt"]; err != nil {
		return err
	}
	s.cur.To = append(s.cur.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := s.be.cfg.fail["data"]; err != nil {
		return err
	}
	s.cur.Data = b
	s.be.mu.Lock()
	s.be.deliveries = append(s.be.deliveries, s.cur)
	s.be.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = delivery{} }
func (s *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN, which go-sasl only has
// as a client: "Username:", "Password:", then the verdict.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if response != nil { // an initial response is the username
			l.user = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(response)
		return []byte("Password:"), false, nil
	default:
		return nil, true, l.check(l.user, string(response))
	}
}

// testServer is a running go-smtp server on 127.0.0.1.
type testServer struct {
	addr string
	be   *backend
	// wire is the server's transcript of the conversation.
	wire *syncBuffer
}

// startServer runs a go-smtp server on 127.0.0.1:0 until the test ends.
func startServer(t *testing.T, cfg serverConfig) *testServer {
	t.Helper()
	be := &backend{cfg: cfg}
	ts := &testServer{be: be, wire: &syncBuffer{}}
	s := gosmtp.NewServer(be)
	s.Domain = "mx.test"
	s.AllowInsecureAuth = cfg.insecureAuth
	s.EnableSMTPUTF8 = true
	s.ReadTimeout = 30 * time.Second
	s.WriteTimeout = 30 * time.Second
	s.Debug = ts.wire
	s.ErrorLog = log.New(io.Discard, "", 0)

	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch cfg.mode {
	case TLSStartTLS:
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cfg.cert}}
	case TLSImplicit:
		l = tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{*cfg.cert}})
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		_ = s.Close()
		// Close misses a listener Serve has not registered yet.
		_ = l.Close()
		<-done
	})
	ts.addr = l.Addr().String()
	return ts
}

// rawServer accepts connections on 127.0.0.1:0, writes greeting (none
// if empty: a server that never answers) and reads until the client
// leaves. accepted receives each connection as it is accepted. Cleanup
// releases every connection.
func rawServer(t *testing.T, greeting string) (addr string, accepted <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	acc := make(chan struct{}, 16)
	var mu sync.Mutex
	var conns []net.Conn
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			acc <- struct{}{}
			wg.Go(func() {
				if greeting != "" {
					_, _ = io.WriteString(c, greeting+"\r\n")
				}
				_, _ = io.Copy(io.Discard, c)
			})
		}
	})
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String(), acc
}

// closedAddr is an address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// selfSigned makes a certificate for 127.0.0.1 and localhost that is its
// own CA, and writes it as PEM to a ca_file.
func selfSigned(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "remediator test smtp"},
		NotBefore:             testNow.Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, caFile
}

// syncBuffer is a bytes.Buffer safe for the server's and the logger's
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// --- the notifier's side ---

// newNotifier builds a notifier for cfg; From defaults to testFrom. The
// logger, when not nil, is a debug-level text logger.
func newNotifier(t *testing.T, cfg rules.EmailConfig, logs io.Writer) *Notifier {
	t.Helper()
	if cfg.From == "" {
		cfg.From = testFrom
	}
	o := Options{Location: testZone, Now: func() time.Time { return testNow }}
	if logs != nil {
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	n, err := New(&cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

// notification is an incident's first notification, in Chinese, with a
// label value that is HTML.
func notification() *engine.Notification {
	return &engine.Notification{
		ID:        7,
		Event:     engine.NotifyFiring,
		Channel:   engine.ChannelEmail,
		Recipient: engine.Recipient{Person: "lilei", Name: "李雷", Address: "lilei@example.net"},
		Incident: engine.Incident{
			ID: 42, Title: "数据库主库不可用：订单服务写入全部失败，请值班同学立即处理 db-01",
			Level: "critical", Status: engine.IncidentOpen, Priority: "P1",
		},
		Alerts: []engine.Alert{{
			Status: engine.StatusFiring,
			Labels: map[string]string{"alertname": "MySQLDown", "instance": "<script>alert(1)</script>"},
			Annotations: map[string]string{
				"summary": "主库连接失败，请立即处理",
			},
		}},
		URL:       "https://remediator.example.com/incidents/42",
		Attempt:   1,
		Thread:    "incident-42.remediator",
		MessageID: "notification-7.remediator",
	}
}

// notify calls Notify with a deadline far beyond any test's needs.
func notify(t *testing.T, n *Notifier, no *engine.Notification) (bool, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return n.Notify(ctx, no)
}

// parsed is a received message read back with net/mail and
// mime/multipart.
type parsed struct {
	header netmail.Header
	parts  map[string]string // media type → decoded content
	params map[string]map[string]string
}

func parseMessage(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("read message: %v\n%s", err, data)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	p := parsed{header: m.Header, parts: map[string]string{}, params: map[string]map[string]string{}}
	r := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := r.NextPart() // decodes quoted-printable
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("next part: %v", err)
		}
		pt, pp, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if err != nil {
			t.Fatalf("part Content-Type: %v", err)
		}
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatalf("read part %s: %v", pt, err)
		}
		p.parts[pt] = string(b)
		p.params[pt] = pp
	}
	return p
}

// render is what the default templates make of no.
func render(t *testing.T, no *engine.Notification) message.Rendered {
	t.Helper()
	set, err := message.Compile(message.KindEmail, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := set.Render(message.NewData(no, "", testZone))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestNewAppliesDefaults(t *testing.T) {
	n := newNotifier(t, rules.EmailConfig{Smarthost: "smtp.example.com:587"}, nil)
	if n.mode != TLSStartTLS || n.hello != DefaultHello || n.timeout != DefaultTimeout {
		t.Errorf("mode %q, hello %q, timeout %s; want %q, %q, %s", n.mode, n.hello, n.timeout, TLSStartTLS, DefaultHello, DefaultTimeout)
	}
	if n.tls.ServerName != "smtp.example.com" || n.domain != "remediator.example" {
		t.Errorf("ServerName %q, domain %q", n.tls.ServerName, n.domain)
	}
}

func TestNewRejects(t *testing.T) {
	_, caFile := selfSigned(t)
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := rules.EmailConfig{Smarthost: "smtp.example.com:587", From: testFrom, CAFile: caFile,
		Username: testUser, Password: testPassword}
	for _, tc := range []struct {
		name string
		edit func(c *rules.EmailConfig)
		want string
	}{
		// No smarthost at all.
		{"missing smarthost", func(c *rules.EmailConfig) { c.Smarthost = "" }, "email: smarthost: is required"},
		// A host without a port.
		{"smarthost without port", func(c *rules.EmailConfig) { c.Smarthost = "smtp.example.com" }, `"smtp.example.com" is not HOST:PORT`},
		// A port that is not a number.
		{"smarthost with bad port", func(c *rules.EmailConfig) { c.Smarthost = "smtp.example.com:smtp" }, `port "smtp" is not a number`},
		// A port out of range.
		{"smarthost port out of range", func(c *rules.EmailConfig) { c.Smarthost = "smtp.example.com:70000" }, `port "70000"`},
		// An unknown TLS mode.
		{"unknown tls", func(c *rules.EmailConfig) { c.TLS = "ssl" }, `email: tls "ssl": want none, starttls or tls`},
		// From that is no address.
		{"bad from", func(c *rules.EmailConfig) { c.From = "remediator" }, `email: from "remediator"`},
		// From is required.
		{"missing from", func(c *rules.EmailConfig) { c.From = "" }, "email: from is required"},
		// A non-ASCII domain cannot make a Message-ID.
		{"from with unicode domain", func(c *rules.EmailConfig) { c.From = "alerts@例子.中国" }, "must be ASCII"},
		// A CA file that does not exist.
		{"unreadable ca_file", func(c *rules.EmailConfig) { c.CAFile = "/nonexistent/ca.pem" }, "email: ca_file: open /nonexistent/ca.pem"},
		// A CA file that holds no certificate.
		{"ca_file not PEM", func(c *rules.EmailConfig) { c.CAFile = notPEM }, "holds no PEM certificate"},
		// A password without a username.
		{"password without username", func(c *rules.EmailConfig) { c.Username = "" }, "email: password is set without username"},
		// Credentials on a connection without TLS.
		{"username with tls none", func(c *rules.EmailConfig) { c.TLS = TLSNone }, "credentials are never sent without TLS"},
		// A negative timeout.
		{"negative timeout", func(c *rules.EmailConfig) { c.Timeout = rules.Duration(-time.Second) }, "email: timeout -1s is negative"},
		// An EHLO name with a line break could inject a command.
		{"hello with line break", func(c *rules.EmailConfig) { c.Hello = "a\r\nRSET" }, "email: hello"},
		// A template that does not parse.
		{"bad template", func(c *rules.EmailConfig) {
			c.Templates = map[string]rules.TemplateConfig{"firing": {Title: "{{.Incident.Title"}}
		}, "email: templates.firing.title"},
		// A template for an event that does not exist.
		{"unknown template event", func(c *rules.EmailConfig) {
			c.Templates = map[string]rules.TemplateConfig{"fired": {Title: "x"}}
		}, `unknown event "fired"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.edit(&c)
			n, err := New(&c, Options{})
			if err == nil {
				t.Fatalf("New succeeded (%v), want an error containing %q", n, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), testPassword) {
				t.Errorf("error %q holds the password", err)
			}
		})
	}
	t.Run("several problems are all reported", func(t *testing.T) {
		_, err := New(&rules.EmailConfig{TLS: "ssl"}, Options{})
		for _, want := range []string{"smarthost", "tls", "from"} {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error %v, want it to name %s", err, want)
			}
		}
	})
	t.Run("nil config", func(t *testing.T) {
		if _, err := New(nil, Options{}); err == nil {
			t.Error("New(nil) succeeded")
		}
	})
}

func TestDeliverPlain(t *testing.T) {
	srv := startServer(t, serverConfig{mode: TLSNone})
	n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, TLS: TLSNone, Hello: "remediator.test"}, nil)
	no := notification()
	retry, err := notify(t, n, no)
	if err != nil {
		t.Fatalf("Notify: retry %v, %v", retry, err)
	}
	got := srv.be.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	d := got[0]
	want := render(t, no)

	t.Run("envelope is from and the recipient", func(t *testing.T) {
		if d.From != "alerts@remediator.example" || len(d.To) != 1 || d.To[0] != "lilei@example.net" {
			t.Errorf("MAIL FROM %q, RCPT TO %q", d.From, d.To)
		}
		if d.TLS {
			t.Error("tls none used TLS")
		}
		if !strings.Contains(srv.wire.String(), "EHLO remediator.test") {
			t.Error("the configured hello was not the EHLO name")
		}
	})

	m := parseMessage(t, d.Data)
	t.Run("headers", func(t *testing.T) {
		subject, err := new(mime.WordDecoder).DecodeHeader(m.header.Get("Subject"))
		if err != nil {
			t.Fatal(err)
		}
		if subject != want.Title {
			t.Errorf("Subject %q, want %q", subject, want.Title)
		}
		if raw := m.header.Get("Subject"); !strings.HasPrefix(raw, "=?UTF-8?") {
			t.Errorf("raw Subject %q is not RFC 2047 encoded", raw)
		}
		from, err := m.header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Name != "Remediator" || from[0].Address != "alerts@remediator.example" {
			t.Errorf("From %v (%v)", from, err)
		}
		to, err := m.header.AddressList("To")
		if err != nil || len(to) != 1 || to[0].Name != "李雷" || to[0].Address != "lilei@example.net" {
			t.Errorf("To %v (%v)", to, err)
		}
		for h, v := range map[string]string{
			"Message-Id":     "<notification-7.remediator@remediator.example>",
			"In-Reply-To":    "<incident-42.remediator@remediator.example>",
			"References":     "<incident-42.remediator@remediator.example>",
			"Auto-Submitted": "auto-generated",
			"Mime-Version":   "1.0",
		} {
			if got := m.header.Get(h); got != v {
				t.Errorf("%s %q, want %q", h, got, v)
			}
		}
		date, err := m.header.Date()
		if err != nil || !date.Equal(testNow) {
			t.Errorf("Date %v (%v), want %v", date, err, testNow)
		}
		if no.ProviderID != "<notification-7.remediator@remediator.example>" {
			t.Errorf("ProviderID %q, want the Message-ID", no.ProviderID)
		}
	})

	t.Run("text part carries the body and Chinese round-trips", func(t *testing.T) {
		text, ok := m.parts["text/plain"]
		if !ok {
			t.Fatalf("no text/plain part in %v", m.parts)
		}
		if m.params["text/plain"]["charset"] != "UTF-8" {
			t.Errorf("text charset %q", m.params["text/plain"]["charset"])
		}
		// The wire's line ends are CRLF.
		if strings.ReplaceAll(strings.TrimSpace(text), "\r\n", "\n") != want.Body {
			t.Errorf("text part\n%q\nwant\n%q", text, want.Body)
		}
		for _, s := range []string{"主库连接失败，请立即处理", no.URL} {
			if !strings.Contains(text, s) {
				t.Errorf("text part lacks %q", s)
			}
		}
	})

	t.Run("html part escapes a label value", func(t *testing.T) {
		html, ok := m.parts["text/html"]
		if !ok {
			t.Fatalf("no text/html part in %v", m.parts)
		}
		if !strings.Contains(html, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("html part lacks the escaped label:\n%s", html)
		}
		if strings.Contains(html, "<script>") {
			t.Errorf("html part holds a raw <script>:\n%s", html)
		}
		if !strings.Contains(html, "数据库主库不可用") {
			t.Errorf("html part lacks the Chinese title:\n%s", html)
		}
	})

	t.Run("lines stay within SMTP's limit", func(t *testing.T) {
		sc := bufio.NewScanner(bytes.NewReader(d.Data))
		for sc.Scan() {
			if len(sc.Bytes()) > 998 {
				t.Errorf("line of %d bytes", len(sc.Bytes()))
			}
		}
	})

	t.Run("a retry carries the same Message-ID", func(t *testing.T) {
		again := notification()
		again.Attempt = 2
		if _, err := notify(t, n, again); err != nil {
			t.Fatal(err)
		}
		got := srv.be.received()
		if len(got) != 2 {
			t.Fatalf("%d messages, want 2", len(got))
		}
		if id := parseMessage(t, got[1].Data).header.Get("Message-Id"); id != m.header.Get("Message-Id") {
			t.Errorf("retry Message-ID %q, first %q", id, m.header.Get("Message-Id"))
		}
	})

	t.Run("a later event threads under the incident", func(t *testing.T) {
		ack := notification()
		ack.Event, ack.By, ack.MessageID = engine.NotifyAcknowledged, "lilei", "notification-8.remediator"
		if _, err := notify(t, n, ack); err != nil {
			t.Fatal(err)
		}
		got := srv.be.received()
		h := parseMessage(t, got[len(got)-1].Data).header
		if h.Get("Message-Id") != "<notification-8.remediator@remediator.example>" ||
			h.Get("In-Reply-To") != m.header.Get("In-Reply-To") || h.Get("References") != m.header.Get("References") {
			t.Errorf("Message-ID %q, In-Reply-To %q, References %q", h.Get("Message-Id"), h.Get("In-Reply-To"), h.Get("References"))
		}
	})
}

func TestTemplateOverride(t *testing.T) {
	srv := startServer(t, serverConfig{mode: TLSNone})
	n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, TLS: TLSNone, Templates: map[string]rules.TemplateConfig{
		"firing": {Title: "告警 #{{.Incident.ID}}\n{{.Priority}}"},
	}}, nil)
	if _, err := notify(t, n, notification()); err != nil {
		t.Fatal(err)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(parseMessage(t, srv.be.received()[0].Data).header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	// The line break the template left is folded into a space.
	if subject != "告警 #42 P1" {
		t.Errorf("Subject %q, want the override", subject)
	}
}

func TestBadNotification(t *testing.T) {
	srv := startServer(t, serverConfig{mode: TLSNone})
	n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, TLS: TLSNone}, nil)
	for _, tc := range []struct {
		name string
		edit func(*engine.Notification)
	}{
		// A person without an email address.
		{"no address", func(no *engine.Notification) { no.Recipient.Address = "" }},
		// An address that does not parse.
		{"bad address", func(no *engine.Notification) { no.Recipient.Address = "lilei at example" }},
		// A message id that would break the header.
		{"bad message id", func(no *engine.Notification) { no.MessageID = "a b>\r\nBcc: x@y" }},
	} {
		t.Run(tc.name+" is final", func(t *testing.T) {
			no := notification()
			tc.edit(no)
			retry, err := notify(t, n, no)
			if err == nil || retry {
				t.Errorf("retry %v, err %v; want a final error", retry, err)
			}
		})
	}
	if got := srv.be.received(); len(got) != 0 {
		t.Errorf("server received %d messages", len(got))
	}
}

func TestSTARTTLS(t *testing.T) {
	cert, caFile := selfSigned(t)
	users := map[string]string{testUser: testPassword}
	for _, tc := range []struct {
		name      string
		cfg       rules.EmailConfig
		delivered bool
	}{
		// The test CA in ca_file makes the certificate trusted.
		{"trusted via ca_file delivers over TLS with AUTH", rules.EmailConfig{CAFile: caFile, Username: testUser, Password: testPassword}, true},
		// Without it the self-signed certificate does not verify.
		{"untrusted certificate is final", rules.EmailConfig{Username: testUser, Password: testPassword}, false},
		// insecure_skip_verify is the user's explicit way around that.
		{"insecure_skip_verify accepts it", rules.EmailConfig{InsecureSkipVerify: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, serverConfig{mode: TLSStartTLS, cert: &cert, users: users})
			tc.cfg.Smarthost, tc.cfg.TLS = srv.addr, TLSStartTLS
			retry, err := notify(t, newNotifier(t, tc.cfg, nil), notification())
			got := srv.be.received()
			if !tc.delivered {
				if err == nil || retry || len(got) != 0 {
					t.Fatalf("retry %v, err %v, %d delivered; want a final error and nothing sent", retry, err, len(got))
				}
				t.Log(err)
				if !strings.Contains(err.Error(), "certificate") {
					t.Errorf("error %q does not say the certificate is the problem", err)
				}
				if len(srv.be.authAttempts()) != 0 {
					t.Error("AUTH was sent to a server whose certificate did not verify")
				}
				return
			}
			if err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if len(got) != 1 || !got[0].TLS {
				t.Fatalf("delivered %+v, want one message over TLS", got)
			}
			if tc.cfg.Username != "" && got[0].User != testUser {
				t.Errorf("authenticated as %q", got[0].User)
			}
		})
	}
}

func TestImplicitTLS(t *testing.T) {
	cert, caFile := selfSigned(t)
	t.Run("trusted via ca_file delivers over TLS with AUTH", func(t *testing.T) {
		srv := startServer(t, serverConfig{mode: TLSImplicit, cert: &cert, users: map[string]string{testUser: testPassword}})
		n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, TLS: TLSImplicit, CAFile: caFile, Username: testUser, Password: testPassword}, nil)
		if _, err := notify(t, n, notification()); err != nil {
			t.Fatal(err)
		}
		got := srv.be.received()
		if len(got) != 1 || !got[0].TLS || got[0].User != testUser {
			t.Fatalf("delivered %+v, want one authenticated message over TLS", got)
		}
		if a := srv.be.authAttempts(); len(a) != 1 || a[0].Mech != sasl.Plain || !a[0].TLS {
			t.Errorf("auth attempts %+v, want one PLAIN over TLS", a)
		}
	})
	t.Run("untrusted certificate is final", func(t *testing.T) {
		srv := startServer(t, serverConfig{mode: TLSImplicit, cert: &cert})
		n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, TLS: TLSImplicit}, nil)
		retry, err := notify(t, n, notification())
		if err == nil || retry {
			t.Fatalf("retry %v, err %v; want a final error", retry, err)
		}
	})
	t.Run("a plain server is not spoken to in the clear", func(t *testing.T) {
		srv := startServer(t, serverConfig{mode: TLSNone})
		n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, TLS: TLSImplicit, CAFile: caFile}, nil)
		if _, err := notify(t, n, notification()); err == nil {
			t.Fatal("Notify succeeded against a server without TLS")
		}
		if got := srv.be.received(); len(got) != 0 {
			t.Errorf("%d messages delivered", len(got))
		}
	})
}

func TestAuth(t *testing.T) {
	cert, caFile := selfSigned(t)
	users := map[string]string{testUser: testPassword}
	for _, tc := range []struct {
		name     string
		srv      serverConfig
		password rules.Secret
		mech     string // the mechanism the server saw; "" none
		retry    bool
		wantErr  string // "" delivered
	}{
		// PLAIN is preferred when offered.
		{"PLAIN when offered", serverConfig{mechs: []string{sasl.Login, sasl.Plain}}, testPassword, sasl.Plain, false, ""},
		// LOGIN when it is all the server offers.
		{"LOGIN when only it is offered", serverConfig{mechs: []string{sasl.Login}}, testPassword, sasl.Login, false, ""},
		// Wrong password: 535, final.
		{"bad credentials are final", serverConfig{}, "wrong-password", sasl.Plain, false, "535"},
		// The server cannot check credentials now: 454, retry.
		{"454 temporary failure retries", serverConfig{authErr: func(string, string) error {
			return &gosmtp.SMTPError{Code: 454, EnhancedCode: gosmtp.EnhancedCode{4, 7, 0}, Message: "Temporary authentication failure"}
		}}, testPassword, sasl.Plain, true, "454"},
		// Only mechanisms remediator does not speak.
		{"neither PLAIN nor LOGIN is final", serverConfig{mechs: []string{"CRAM-MD5"}}, testPassword, "", false, "CRAM-MD5"},
		// No AUTH offered at all while a username is configured.
		{"no AUTH offered is final", serverConfig{mechs: []string{}}, testPassword, "", false, "offers no AUTH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.srv.mode, tc.srv.cert, tc.srv.users = TLSStartTLS, &cert, users
			srv := startServer(t, tc.srv)
			n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, CAFile: caFile, Username: testUser, Password: tc.password}, nil)
			retry, err := notify(t, n, notification())
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Notify: %v", err)
				}
				if got := srv.be.received(); len(got) != 1 || got[0].User != testUser {
					t.Errorf("delivered %+v, want one message from the authenticated user", got)
				}
			} else {
				if err == nil || retry != tc.retry || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("retry %v, err %v; want retry %v and an error containing %q", retry, err, tc.retry, tc.wantErr)
				}
				t.Log(err)
				if strings.Contains(err.Error(), string(tc.password)) {
					t.Errorf("error %q holds the password", err)
				}
				if got := srv.be.received(); len(got) != 0 {
					t.Errorf("%d messages delivered after a failed AUTH", len(got))
				}
			}
			a := srv.be.authAttempts()
			switch {
			case tc.mech == "" && len(a) != 0:
				t.Errorf("auth attempts %+v, want none", a)
			case tc.mech != "" && (len(a) != 1 || a[0].Mech != tc.mech || !a[0].TLS):
				t.Errorf("auth attempts %+v, want one %s over TLS", a, tc.mech)
			}
		})
	}
}

func TestNoSTARTTLSOffered(t *testing.T) {
	// The server would take AUTH in the clear; remediator must not offer it.
	srv := startServer(t, serverConfig{mode: TLSNone, users: map[string]string{testUser: testPassword}, insecureAuth: true})
	n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, TLS: TLSStartTLS, Username: testUser, Password: testPassword}, nil)
	retry, err := notify(t, n, notification())
	if err == nil || retry {
		t.Fatalf("retry %v, err %v; want a final error", retry, err)
	}
	t.Log(err)
	if !errors.Is(err, ErrNoSTARTTLS) {
		t.Errorf("error %v, want ErrNoSTARTTLS", err)
	}
	if a := srv.be.authAttempts(); len(a) != 0 {
		t.Errorf("auth attempts %+v, want none", a)
	}
	wire := srv.wire.String()
	if strings.Contains(wire, testPassword) {
		t.Errorf("the password crossed the wire:\n%s", wire)
	}
	// The transcript has both sides; the client's lines do not start
	// with a reply code.
	for _, line := range strings.Split(wire, "\r\n") {
		if line != "" && (line[0] < '0' || line[0] > '9') &&
			(strings.HasPrefix(line, "AUTH") || strings.HasPrefix(line, "MAIL FROM")) {
			t.Errorf("the client sent %q in the clear:\n%s", line, wire)
		}
	}
	if !strings.Contains(wire, "AUTH PLAIN") { // the server did offer it
		t.Errorf("the server did not offer AUTH PLAIN; the test proves nothing:\n%s", wire)
	}
}

func TestSMTPReplies(t *testing.T) {
	reply := func(code int, msg string) *gosmtp.SMTPError {
		return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{code / 100, 0, 0}, Message: msg}
	}
	for _, tc := range []struct {
		name  string
		stage string
		err   *gosmtp.SMTPError
		retry bool
	}{
		// Greylisting at RCPT.
		{"451 at RCPT retries", "rcpt", reply(451, "Greylisted, try again later"), true},
		// Insufficient storage at RCPT.
		{"452 at RCPT retries", "rcpt", reply(452, "Too many recipients"), true},
		// Mailbox busy at MAIL.
		{"450 at MAIL retries", "mail", reply(450, "Mailbox busy"), true},
		// Local error in processing after DATA.
		{"451 at DATA retries", "data", reply(451, "Local error in processing"), true},
		// The server shuts down mid-transaction.
		{"421 at DATA retries", "data", reply(421, "Service shutting down"), true},
		// The server cannot start a session: EHLO and HELO are refused.
		{"451 at EHLO retries", "session", reply(451, "Try again later"), true},
		// The mailbox does not exist.
		{"550 at RCPT is final", "rcpt", reply(550, "Mailbox unavailable"), false},
		// The sender is refused.
		{"553 at MAIL is final", "mail", reply(553, "Sender address rejected"), false},
		// The content is refused.
		{"554 at DATA is final", "data", reply(554, "Transaction failed"), false},
		// The message is too big.
		{"552 at DATA is final", "data", reply(552, "Message too large"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, serverConfig{mode: TLSNone, fail: map[string]*gosmtp.SMTPError{tc.stage: tc.err}})
			n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, TLS: TLSNone}, nil)
			retry, err := notify(t, n, notification())
			if err == nil || retry != tc.retry {
				t.Fatalf("retry %v, err %v; want retry %v", retry, err, tc.retry)
			}
			t.Log(err)
			if !strings.Contains(err.Error(), fmt.Sprint(tc.err.Code)) || !strings.HasPrefix(err.Error(), "email: send via "+srv.addr) {
				t.Errorf("error %q does not name the smarthost and the code %d", err, tc.err.Code)
			}
			if tc.stage != "session" {
				// go-mail's SendError reports the reply and whether it is temporary.
				var se *mail.SendError
				if !errors.As(err, &se) || se.ErrorCode() != tc.err.Code || se.IsTemp() != tc.retry {
					t.Errorf("error %v: SendError %+v, want code %d", err, se, tc.err.Code)
				}
			}
			if got := srv.be.received(); len(got) != 0 {
				t.Errorf("%d messages delivered", len(got))
			}
		})
	}
}

func TestGreeting(t *testing.T) {
	for _, tc := range []struct {
		name     string
		greeting string
		retry    bool
	}{
		// Too busy to talk now.
		{"421 greeting retries", "421 mx.test Service not available, too busy", true},
		// Refuses this client outright.
		{"554 greeting is final", "554 mx.test No SMTP service here", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := rawServer(t, tc.greeting)
			n := newNotifier(t, rules.EmailConfig{Smarthost: addr, TLS: TLSNone}, nil)
			retry, err := notify(t, n, notification())
			if err == nil || retry != tc.retry {
				t.Fatalf("retry %v, err %v; want retry %v", retry, err, tc.retry)
			}
			t.Log(err)
		})
	}
}

func TestTransportFailures(t *testing.T) {
	t.Run("a server that never answers is ended by the ctx deadline", func(t *testing.T) {
		addr, _ := rawServer(t, "")
		n := newNotifier(t, rules.EmailConfig{Smarthost: addr, TLS: TLSNone}, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		retry, err := n.Notify(ctx, notification())
		if err == nil || !retry || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("retry %v, err %v; want a retryable deadline error", retry, err)
		}
		t.Log(err)
	})
	t.Run("a server that never answers is ended by the configured timeout", func(t *testing.T) {
		addr, _ := rawServer(t, "")
		n := newNotifier(t, rules.EmailConfig{Smarthost: addr, TLS: TLSNone, Timeout: rules.Duration(200 * time.Millisecond)}, nil)
		retry, err := notify(t, n, notification())
		if err == nil || !retry || !strings.Contains(err.Error(), "timed out (timeout 200ms)") {
			t.Fatalf("retry %v, err %v; want a retryable timeout naming the configured timeout", retry, err)
		}
		t.Log(err)
	})
	t.Run("a cancelled ctx ends a stalled conversation", func(t *testing.T) {
		addr, accepted := rawServer(t, "220 mx.test ESMTP")
		n := newNotifier(t, rules.EmailConfig{Smarthost: addr, TLS: TLSNone}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			defer cancel()
			select {
			case <-accepted: // the greeting is sent; EHLO is never answered
			case <-ctx.Done():
			}
		}()
		retry, err := n.Notify(ctx, notification())
		if err == nil || !retry || !errors.Is(err, context.Canceled) {
			t.Fatalf("retry %v, err %v; want a retryable cancellation", retry, err)
		}
		t.Log(err)
	})
	t.Run("connection refused retries", func(t *testing.T) {
		n := newNotifier(t, rules.EmailConfig{Smarthost: closedAddr(t), TLS: TLSNone}, nil)
		retry, err := notify(t, n, notification())
		if err == nil || !retry {
			t.Fatalf("retry %v, err %v; want a retryable error", retry, err)
		}
		t.Log(err)
	})
}

// TestNoSecretLeak proves the password reaches no error and no log line,
// not even in the debug SMTP transcript, on success and on failure.
func TestNoSecretLeak(t *testing.T) {
	cert, caFile := selfSigned(t)
	users := map[string]string{testUser: testPassword}
	b64 := base64.StdEncoding.EncodeToString
	secrets := []string{
		testPassword,
		// AUTH LOGIN's password line and AUTH PLAIN's initial response.
		b64([]byte(testPassword)),
		b64([]byte("\x00" + testUser + "\x00" + testPassword)),
	}
	echo := func(user, pass string) error {
		return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8},
			Message: "Authentication failed for " + user + " with password " + pass + " (" + b64([]byte(pass)) + ")"}
	}
	for _, tc := range []struct {
		name string
		srv  *serverConfig // nil: nothing listens
		tls  string
		ca   bool
		ok   bool
	}{
		// AUTH PLAIN succeeds: the transcript is logged.
		{"PLAIN success", &serverConfig{mode: TLSStartTLS}, TLSStartTLS, true, true},
		// AUTH LOGIN succeeds: the password goes as its own line.
		{"LOGIN success", &serverConfig{mode: TLSStartTLS, mechs: []string{sasl.Login}}, TLSStartTLS, true, true},
		// Implicit TLS with AUTH.
		{"implicit TLS success", &serverConfig{mode: TLSImplicit}, TLSImplicit, true, true},
		// A server that repeats the password in its 535 reply.
		{"server echoes the password", &serverConfig{mode: TLSStartTLS, authErr: echo}, TLSStartTLS, true, false},
		// The same with LOGIN.
		{"server echoes the LOGIN password", &serverConfig{mode: TLSStartTLS, mechs: []string{sasl.Login}, authErr: echo}, TLSStartTLS, true, false},
		// No STARTTLS on offer.
		{"no STARTTLS", &serverConfig{mode: TLSNone, insecureAuth: true}, TLSStartTLS, false, false},
		// A certificate that does not verify.
		{"untrusted certificate", &serverConfig{mode: TLSStartTLS}, TLSStartTLS, false, false},
		// A transport error: nothing listens.
		{"connection refused", nil, TLSImplicit, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := closedAddr(t)
			if tc.srv != nil {
				tc.srv.cert, tc.srv.users = &cert, users
				addr = startServer(t, *tc.srv).addr
			}
			cfg := rules.EmailConfig{Smarthost: addr, TLS: tc.tls, Username: testUser, Password: testPassword}
			if tc.ca {
				cfg.CAFile = caFile
			}
			logs := &syncBuffer{}
			n := newNotifier(t, cfg, logs)
			_, err := notify(t, n, notification())
			if (err == nil) != tc.ok {
				t.Fatalf("Notify: %v, want success %v", err, tc.ok)
			}
			out := logs.String()
			if err != nil {
				t.Log(err)
			}
			if tc.ok && !strings.Contains(out, "AUTH") {
				t.Errorf("the debug log has no SMTP transcript; the test proves nothing:\n%s", out)
			}
			for _, s := range secrets {
				if err != nil && strings.Contains(err.Error(), s) {
					t.Errorf("error holds %q: %v", s, err)
				}
				if strings.Contains(out, s) {
					t.Errorf("log holds %q:\n%s", s, out)
				}
			}
			for _, format := range []string{"%v", "%+v", "%#v"} {
				if s := fmt.Sprintf(format, n); strings.Contains(s, testPassword) {
					t.Errorf("%s of the notifier holds the password: %s", format, s)
				}
			}
		})
	}
}

// sendMessage calls SendMessage with a deadline far beyond any test's
// needs.
func sendMessage(t *testing.T, n *Notifier, to []string, subject, text, html string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	return n.SendMessage(ctx, to, subject, text, html)
}

// messageIDRE is a SendMessage Message-ID: random, at from's domain.
var messageIDRE = regexp.MustCompile(`^<message\.[a-z2-7]{26}@remediator\.example>$`)

func TestSendMessage(t *testing.T) {
	cert, caFile := selfSigned(t)
	srv := startServer(t, serverConfig{mode: TLSStartTLS, cert: &cert, users: map[string]string{testUser: testPassword}})
	logs := &syncBuffer{}
	n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, CAFile: caFile, Username: testUser, Password: testPassword}, logs)
	to := []string{"李雷 <lilei@example.net>", "ops@example.org"}
	const (
		subject = "[remediator] daily: 3 info alerts\nsince 09:00"
		text    = "3 info alerts since 2025-03-01 09:00 CST\n- DiskAlmostFull\n"
		html    = "<p>3 info alerts</p><p>instance=&lt;script&gt;</p>"
	)
	if err := sendMessage(t, n, to, subject, text, html); err != nil {
		t.Fatalf("SendMessage: %v", err)
	}
	got := srv.be.received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	d := got[0]

	t.Run("one transaction to every recipient over TLS with AUTH", func(t *testing.T) {
		if d.From != "alerts@remediator.example" || strings.Join(d.To, ",") != "lilei@example.net,ops@example.org" {
			t.Errorf("MAIL FROM %q, RCPT TO %q", d.From, d.To)
		}
		if !d.TLS || d.User != testUser {
			t.Errorf("TLS %v, user %q; want TLS and the configured user", d.TLS, d.User)
		}
	})

	m := parseMessage(t, d.Data)
	t.Run("headers", func(t *testing.T) {
		rcpts, err := m.header.AddressList("To")
		if err != nil || len(rcpts) != 2 || rcpts[0].Name != "李雷" || rcpts[0].Address != "lilei@example.net" || rcpts[1].Address != "ops@example.org" {
			t.Errorf("To %v (%v)", rcpts, err)
		}
		subj, err := new(mime.WordDecoder).DecodeHeader(m.header.Get("Subject"))
		if err != nil || subj != "[remediator] daily: 3 info alerts since 09:00" {
			t.Errorf("Subject %q (%v), want it on one line", subj, err)
		}
		if id := m.header.Get("Message-Id"); !messageIDRE.MatchString(id) {
			t.Errorf("Message-ID %q, want %s", id, messageIDRE)
		}
		if m.header.Get("In-Reply-To") != "" || m.header.Get("References") != "" {
			t.Errorf("In-Reply-To %q, References %q: a report threads under no incident", m.header.Get("In-Reply-To"), m.header.Get("References"))
		}
		if m.header.Get("Auto-Submitted") != "auto-generated" {
			t.Errorf("Auto-Submitted %q", m.header.Get("Auto-Submitted"))
		}
		if date, err := m.header.Date(); err != nil || !date.Equal(testNow) {
			t.Errorf("Date %v (%v), want %v", date, err, testNow)
		}
	})

	t.Run("text and html parts as given", func(t *testing.T) {
		if got := strings.ReplaceAll(m.parts["text/plain"], "\r\n", "\n"); got != text {
			t.Errorf("text part %q, want %q", got, text)
		}
		if got := strings.TrimSpace(m.parts["text/html"]); got != html {
			t.Errorf("html part %q, want %q", got, html)
		}
	})

	t.Run("every message has its own Message-ID", func(t *testing.T) {
		if err := sendMessage(t, n, to[1:], "again", "text", "<p>html</p>"); err != nil {
			t.Fatal(err)
		}
		got := srv.be.received()
		if len(got) != 2 {
			t.Fatalf("%d messages, want 2", len(got))
		}
		second := parseMessage(t, got[1].Data).header.Get("Message-Id")
		if !messageIDRE.MatchString(second) || second == m.header.Get("Message-Id") {
			t.Errorf("second Message-ID %q, first %q; want two different ones", second, m.header.Get("Message-Id"))
		}
	})

	t.Run("without html the message is plain text", func(t *testing.T) {
		if err := sendMessage(t, n, to[1:], "plain", "only text", ""); err != nil {
			t.Fatal(err)
		}
		got := srv.be.received()
		msg, err := netmail.ReadMessage(bytes.NewReader(got[len(got)-1].Data))
		if err != nil {
			t.Fatal(err)
		}
		mt, _, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
		if err != nil || mt != "text/plain" {
			t.Errorf("Content-Type %q (%v), want text/plain", msg.Header.Get("Content-Type"), err)
		}
	})

	t.Run("the debug log has the conversation but not the password", func(t *testing.T) {
		out := logs.String()
		if !strings.Contains(out, "AUTH") || !strings.Contains(out, "email sent") {
			t.Errorf("the debug log lacks the transcript; the test proves nothing:\n%s", out)
		}
		b64 := base64.StdEncoding.EncodeToString
		for _, s := range []string{testPassword, b64([]byte(testPassword)), b64([]byte("\x00" + testUser + "\x00" + testPassword))} {
			if strings.Contains(out, s) {
				t.Errorf("log holds %q", s)
			}
		}
	})
}

func TestSendMessageFailures(t *testing.T) {
	reply := func(code int, msg string) *gosmtp.SMTPError {
		return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{code / 100, 0, 0}, Message: msg}
	}
	for _, tc := range []struct {
		name string
		srv  *serverConfig // nil: nothing listens
		to   []string
		want string // in the error
	}{
		// Nobody to send to: nothing is dialled.
		{"no recipients", nil, nil, "no recipients"},
		// An address that does not parse.
		{"bad address", &serverConfig{mode: TLSNone}, []string{"ops@example.org", "lilei at example"}, `recipient address "lilei at example"`},
		// The server refuses a mailbox.
		{"550 at RCPT", &serverConfig{mode: TLSNone, fail: map[string]*gosmtp.SMTPError{"rcpt": reply(550, "Mailbox unavailable")}}, []string{"ops@example.org"}, "550"},
		// The server fails after DATA.
		{"451 at DATA", &serverConfig{mode: TLSNone, fail: map[string]*gosmtp.SMTPError{"data": reply(451, "Local error")}}, []string{"ops@example.org"}, "451"},
		// Nothing listens.
		{"connection refused", nil, []string{"ops@example.org"}, "email: send via"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := closedAddr(t)
			var srv *testServer
			if tc.srv != nil {
				srv = startServer(t, *tc.srv)
				addr = srv.addr
			}
			n := newNotifier(t, rules.EmailConfig{Smarthost: addr, TLS: TLSNone}, nil)
			err := sendMessage(t, n, tc.to, "subject", "text", "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SendMessage error %v, want one containing %q", err, tc.want)
			}
			t.Log(err)
			if srv != nil {
				if got := srv.be.received(); len(got) != 0 {
					t.Errorf("%d messages delivered", len(got))
				}
			}
		})
	}
	t.Run("a server that never answers is ended by the ctx deadline", func(t *testing.T) {
		addr, _ := rawServer(t, "")
		n := newNotifier(t, rules.EmailConfig{Smarthost: addr, TLS: TLSNone}, nil)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		err := n.SendMessage(ctx, []string{"ops@example.org"}, "subject", "text", "")
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("SendMessage error %v, want a deadline error", err)
		}
	})
}

// TestSendMessageNoSecretLeak proves the password reaches neither an
// error nor the debug log when SendMessage fails: a server that echoes
// it, and nothing listening.
func TestSendMessageNoSecretLeak(t *testing.T) {
	cert, caFile := selfSigned(t)
	b64 := base64.StdEncoding.EncodeToString
	echo := func(user, pass string) error {
		return &gosmtp.SMTPError{Code: 535, EnhancedCode: gosmtp.EnhancedCode{5, 7, 8},
			Message: "Authentication failed for " + user + " with password " + pass + " (" + b64([]byte(pass)) + ")"}
	}
	for _, tc := range []struct {
		name string
		echo bool // false: nothing listens
	}{
		// The server repeats the password in its 535 reply.
		{"server echoes the password", true},
		// A transport error.
		{"connection refused", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := closedAddr(t)
			if tc.echo {
				addr = startServer(t, serverConfig{mode: TLSStartTLS, cert: &cert, users: map[string]string{testUser: testPassword}, authErr: echo}).addr
			}
			logs := &syncBuffer{}
			n := newNotifier(t, rules.EmailConfig{Smarthost: addr, CAFile: caFile, Username: testUser, Password: testPassword}, logs)
			err := sendMessage(t, n, []string{"ops@example.org"}, "subject", "text", "")
			if err == nil {
				t.Fatal("SendMessage succeeded")
			}
			t.Log(err)
			for _, s := range []string{testPassword, b64([]byte(testPassword)), b64([]byte("\x00" + testUser + "\x00" + testPassword))} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error holds %q: %v", s, err)
				}
				if strings.Contains(logs.String(), s) {
					t.Errorf("log holds %q:\n%s", s, logs.String())
				}
			}
		})
	}
}

// TestHostileTitleStaysInTheSubject: an incident title comes from alert
// labels. A line break in it cannot start a header (no Bcc, no second
// recipient), and text that looks like an RFC 2047 encoded-word is shown
// as written, not decoded into something else by the mail reader.
func TestHostileTitleStaysInTheSubject(t *testing.T) {
	forged := "=?UTF-8?B?" + base64.StdEncoding.EncodeToString([]byte("all clear")) + "?="
	for _, title := range []string{
		"DiskFull\r\nBcc: evil@example.com\r\nX-Injected: 1\r\n\r\nfake body",
		"DiskFull\nBcc: evil@example.com",
		"DiskFull " + forged,
		"数据库 " + forged + " \r\nBcc: evil@example.com",
		// Long: several encoded-words, folded, none splitting a character.
		strings.Repeat("磁盘已满 ", 30) + forged,
	} {
		srv := startServer(t, serverConfig{mode: TLSNone})
		n := newNotifier(t, rules.EmailConfig{Smarthost: srv.addr, TLS: TLSNone}, nil)
		no := notification()
		no.Incident.Title = title
		no.Alerts[0].Labels["instance"] = "db-1\r\nBcc: evil@example.com"
		if _, err := notify(t, n, no); err != nil {
			t.Fatalf("%q: Notify: %v", title, err)
		}
		got := srv.be.received()
		if len(got) != 1 || len(got[0].To) != 1 || got[0].To[0] != "lilei@example.net" {
			t.Fatalf("%q: received %+v", title, got)
		}
		m := parseMessage(t, got[0].Data)
		for _, h := range []string{"Bcc", "X-Injected"} {
			if v, ok := m.header[h]; ok {
				t.Errorf("%q: header %s: %q", title, h, v)
			}
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(m.header.Get("Subject"))
		if err != nil {
			t.Fatalf("%q: subject: %v", title, err)
		}
		want := strings.Join(strings.Fields(render(t, no).Title), " ")
		if subject != want {
			t.Errorf("%q: Subject reads %q, want %q", title, subject, want)
		}
	}
}
