// Package email is the email channel: one message per notification, sent
// through the configured SMTP smarthost with go-mail.
//
// Every Notify dials, sends one message and quits; nothing is pooled, so
// a notifier holds no connection between incidents and a smarthost that
// restarts is never seen half-open. The context (and the configured
// timeout) bounds the whole conversation: when it ends, the connection is
// closed under whatever step is waiting.
//
// TLS is none, starttls (mandatory: a server that does not offer STARTTLS
// is refused before anything else is sent) or tls (implicit TLS). AUTH is
// used when a username is set, only over TLS: PLAIN if the server offers
// it, else LOGIN.
//
// A message has a text/plain part and a text/html alternative. Its
// Message-ID is <MessageID@domain of from>, the same on every attempt, so
// a retried message that did arrive is recognisable; In-Reply-To and
// References name <Thread@domain>, so one incident's messages thread
// together.
//
// SendMessage sends mail that is about no one incident (periodic reports)
// the same way, to several recipients at once, with a new Message-ID
// every time.
package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	mail "github.com/wneessen/go-mail"
	maillog "github.com/wneessen/go-mail/log"
	"github.com/wneessen/go-mail/smtp"

	"github.com/remediator/remediator/engine"
	"github.com/remediator/remediator/notifiers/message"
	"github.com/remediator/remediator/rules"
)

// Errors a delivery can end with besides the server's own replies. Both
// are final: they are configuration problems, not passing failures.
var (
	// ErrNoSTARTTLS is returned when tls is starttls and the server does
	// not offer STARTTLS: neither credentials nor mail are sent in the
	// clear.
	ErrNoSTARTTLS = errors.New("the server does not offer STARTTLS")
	// ErrNoAuthMechanism is returned when a username is set and the
	// server offers neither PLAIN nor LOGIN.
	ErrNoAuthMechanism = errors.New("the server offers no AUTH mechanism remediator uses (PLAIN, LOGIN)")
)

// errAuthCleartext guards AUTH on a connection without TLS (New refuses
// the configuration that would lead there).
var errAuthCleartext = errors.New("refusing AUTH without TLS")

// errTimeout is the cause of a context ended by the configured timeout.
var errTimeout = errors.New("email timeout")

// Options are what a Notifier takes from its surroundings.
type Options struct {
	// Location is the time zone of times in messages and of the Date
	// header. Nil: UTC.
	Location *time.Location
	// Now is the clock of the Date header. Nil: time.Now.
	Now func() time.Time
	// Logger receives a debug line per message sent and, at debug level,
	// the SMTP conversation with AUTH data redacted. Nil: discard.
	Logger *slog.Logger
}

// Notifier sends notifications by email. It is safe for concurrent use.
type Notifier struct {
	*settings
	loc    *time.Location
	now    func() time.Time
	logger *slog.Logger
}

var _ engine.Notifier = (*Notifier)(nil)

// New checks cfg, applies its defaults and builds the notifier. Every
// problem is reported, each prefixed "email: " and named by its
// configuration key, joined. No error quotes the password.
func New(cfg *rules.EmailConfig, o Options) (*Notifier, error) {
	if cfg == nil {
		return nil, errors.New("email: no configuration")
	}
	s, err := parseConfig(cfg)
	if err != nil {
		return nil, err
	}
	n := &Notifier{settings: s, loc: o.Location, now: o.Now, logger: o.Logger}
	if n.loc == nil {
		n.loc = time.UTC
	}
	if n.now == nil {
		n.now = time.Now
	}
	if n.logger == nil {
		n.logger = slog.New(slog.DiscardHandler)
	}
	return n, nil
}

// Notify renders the notification and sends it to n.Recipient.Address.
// An SMTP 4xx reply, a refused or dropped connection and a timeout are
// worth a retry; a 5xx reply, an untrusted certificate, a server without
// STARTTLS (tls: starttls) and a message that cannot be built are final.
// On success n.ProviderID is the Message-ID.
func (e *Notifier) Notify(ctx context.Context, n *engine.Notification) (retry bool, err error) {
	r, err := e.set.Render(message.NewData(n, "", e.loc))
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	msg, id, err := e.message(n, r)
	if err != nil {
		return false, fmt.Errorf("email: notification %d: %w", n.ID, err)
	}
	ctx, cancel := context.WithTimeoutCause(ctx, e.timeout, errTimeout)
	defer cancel()
	resp, err := e.send(ctx, msg)
	if err != nil {
		return e.failed(ctx, err)
	}
	n.ProviderID = id
	e.logger.Debug("email sent", "notification", n.ID, "to", msg.GetTo()[0].Address,
		"message_id", id, "smarthost", e.addr, "response", e.scrub(resp))
	return false, nil
}

// message builds the mail: headers, a text part and an HTML alternative.
// It returns the Message-ID.
func (e *Notifier) message(n *engine.Notification, r message.Rendered) (*mail.Msg, string, error) {
	if n.Recipient.Address == "" {
		return nil, "", errors.New("the recipient has no email address")
	}
	to, err := netmail.ParseAddress(n.Recipient.Address)
	if err != nil {
		return nil, "", fmt.Errorf("recipient address %q: %w", n.Recipient.Address, err)
	}
	if n.Recipient.Name != "" {
		to.Name = n.Recipient.Name
	}
	// The engine sets both; the fallbacks keep a message threadable (and
	// stable across attempts) if it does not.
	local, thread := n.MessageID, n.Thread
	if local == "" {
		local = fmt.Sprintf("notification-%d", n.ID)
	}
	if thread == "" {
		thread = fmt.Sprintf("incident-%d", n.Incident.ID)
	}
	if !isDotAtom(local) {
		return nil, "", fmt.Errorf("message id %q cannot be a Message-ID", n.MessageID)
	}
	if !isDotAtom(thread) {
		return nil, "", fmt.Errorf("thread %q cannot be a Message-ID", n.Thread)
	}
	id := "<" + local + "@" + e.domain + ">"
	ref := "<" + thread + "@" + e.domain + ">"

	m := e.compose(r.Title, r.Body, r.HTML, local)
	m.ToMailAddress(to)
	m.SetGenHeader(mail.HeaderInReplyTo, ref)
	m.SetGenHeader(mail.HeaderReferences, ref)
	return m, id, nil
}

// compose builds a message from the configured sender without
// recipients: subject, Message-ID <local@domain of from>, Date, the text
// part and, when html is not empty, an HTML alternative.
func (e *Notifier) compose(subject, text, html, local string) *mail.Msg {
	m := mail.NewMsg(mail.WithNoDefaultUserAgent())
	m.FromMailAddress(e.from)
	// A subject is one line, whatever the template (or a label value in
	// it) left in it.
	m.Subject(subjectHeader(strings.Join(strings.Fields(subject), " ")))
	m.SetMessageIDWithValue(local + "@" + e.domain)
	m.SetDateWithValue(e.now().In(e.loc))
	m.SetUserAgent("remediator")
	// RFC 3834: no vacation or out-of-office replies to alerts.
	m.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	m.SetBodyString(mail.TypeTextPlain, text)
	if html != "" {
		m.AddAlternativeString(mail.TypeTextHTML, html)
	}
	return m
}

// subjectHeader is subject as go-mail should write it: as it is (go-mail
// encodes it when it is not ASCII), unless it holds "=?". A mail reader
// decodes such text as an RFC 2047 encoded-word, so a label value
// "=?UTF-8?B?YWxsIGNsZWFy?=" would read "all clear"; then the whole
// subject is encoded here, in encoded-words of whole characters, and
// reads as written.
func subjectHeader(subject string) string {
	if !strings.Contains(subject, "=?") {
		return subject
	}
	const chunk = 45 // bytes: 60 base64 characters, an encoded-word of 72
	var words []string
	for s := subject; s != ""; {
		n := min(len(s), chunk)
		for n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		words = append(words, "=?UTF-8?B?"+base64.StdEncoding.EncodeToString([]byte(s[:n]))+"?=")
		s = s[n:]
	}
	return strings.Join(words, " ")
}

// SendMessage sends one message that is not about one incident (a
// periodic report) to every address of to, in one SMTP transaction: the
// same smarthost, TLS, AUTH, timeout and secret hygiene as Notify. Its
// Message-ID is new for every call. Every address must be a bare or
// named address (RFC 5322); the error of a failed delivery names the
// smarthost, never the password, and wraps the server's reply.
func (e *Notifier) SendMessage(ctx context.Context, to []string, subject, text, html string) error {
	if len(to) == 0 {
		return errors.New("email: message has no recipients")
	}
	addrs := make([]*netmail.Address, 0, len(to))
	for _, s := range to {
		a, err := netmail.ParseAddress(s)
		if err != nil {
			return fmt.Errorf("email: recipient address %q: %w", s, err)
		}
		addrs = append(addrs, a)
	}
	local := "message." + strings.ToLower(rand.Text())
	m := e.compose(subject, text, html, local)
	m.ToMailAddress(addrs...)
	ctx, cancel := context.WithTimeoutCause(ctx, e.timeout, errTimeout)
	defer cancel()
	resp, err := e.send(ctx, m)
	if err != nil {
		_, err = e.failed(ctx, err)
		return err
	}
	e.logger.Debug("email sent", "to", len(addrs), "message_id", "<"+local+"@"+e.domain+">",
		"smarthost", e.addr, "response", e.scrub(resp))
	return nil
}

// send delivers msg in one SMTP conversation bounded by ctx, and
// returns the server's reply to the message.
func (e *Notifier) send(ctx context.Context, msg *mail.Msg) (string, error) {

	// The dial function keeps the connection, to close it when ctx ends
	// (go-mail's own deadline is per command, and ctx only bounds its
	// dial) and in any case before send returns.
	var conn net.Conn
	stop := func() bool { return false }
	defer func() {
		stop()
		if conn != nil {
			_ = conn.Close()
		}
	}()
	dial := func(dctx context.Context, network, _ string) (net.Conn, error) {
		var c net.Conn
		var err error
		if e.mode == TLSImplicit {
			c, err = (&tls.Dialer{Config: e.tls}).DialContext(dctx, network, e.addr)
		} else {
			c, err = (&net.Dialer{}).DialContext(dctx, network, e.addr)
		}
		if err != nil {
			return nil, err
		}
		conn = c
		stop = context.AfterFunc(ctx, func() { _ = c.Close() })
		return c, nil
	}

	// go-mail's own STARTTLS and AUTH steps are off: they are done below,
	// so that each failure is known for what it is.
	opts := []mail.Option{
		mail.WithPort(e.port),
		mail.WithTimeout(e.timeout),
		mail.WithHELO(e.hello),
		mail.WithTLSPolicy(mail.NoTLS),
		mail.WithDialContextFunc(dial),
		// A fresh connection needs no NOOP; and with one message per
		// connection a RSET after it would only risk turning a delivered
		// message into an error.
		mail.WithoutNoop(),
		mail.WithoutRset(),
	}
	if e.logger.Enabled(ctx, slog.LevelDebug) {
		opts = append(opts, mail.WithLogger(&smtpLogger{log: e.logger, scrub: e.scrub}), mail.WithDebugLog())
	}
	c, err := mail.NewClient(e.host, opts...)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	client, err := c.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return "", fmt.Errorf("connect: %w", err)
	}
	defer func() {
		if client.HasConnection() {
			if err := client.Quit(); err != nil {
				e.logger.Debug("email: quit", "smarthost", e.addr, "err", e.scrub(err.Error()))
			}
		}
	}()

	if e.mode == TLSStartTLS {
		if ok, _ := client.Extension("STARTTLS"); !ok {
			return "", ErrNoSTARTTLS
		}
		if err := client.StartTLS(e.tls); err != nil {
			return "", fmt.Errorf("starttls: %w", err)
		}
	}
	if e.creds != nil {
		if err := client.Auth(&auth{creds: e.creds, host: e.host}); err != nil {
			return "", fmt.Errorf("auth: %w", err)
		}
	}
	if err := c.SendWithSMTPClient(client, msg); err != nil {
		// DATA was accepted: a failure after it does not undo delivery.
		if msg.IsDelivered() {
			return msg.ServerResponse(), nil
		}
		return "", err
	}
	return msg.ServerResponse(), nil
}

// failed turns a delivery error into Notify's result: retry or not, and
// an error that names the smarthost and never holds the password.
func (e *Notifier) failed(ctx context.Context, err error) (bool, error) {
	if ctx.Err() != nil {
		// ctx ended the conversation: whatever step failed, it failed
		// because the connection was closed under it.
		reason := "timed out"
		switch {
		case errors.Is(ctx.Err(), context.Canceled):
			reason = "cancelled"
		case errors.Is(context.Cause(ctx), errTimeout):
			reason = fmt.Sprintf("timed out (timeout %s)", e.timeout)
		}
		return true, fmt.Errorf("email: send via %s: %s: %w", e.addr, reason, ctx.Err())
	}
	if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		// go-mail's own deadline, the same timeout, came first.
		return true, fmt.Errorf("email: send via %s: timed out (timeout %s): %w", e.addr, e.timeout, err)
	}
	retry := retryable(err)
	err = fmt.Errorf("email: send via %s: %w", e.addr, err)
	if msg := err.Error(); e.scrub(msg) != msg {
		// The server echoed a secret: the chain goes, not the secret.
		err = errors.New(e.scrub(msg))
	}
	return retry, err
}

// retryable reports whether a failed delivery is worth another attempt:
// an SMTP 4xx reply or a transport failure (refused, reset, timeout) is;
// a 5xx reply, a certificate that does not verify and a configuration
// the server cannot serve are not.
func retryable(err error) bool {
	var se *mail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			return false // the message, not the server
		}
		if se.ErrorCode() != 0 {
			return se.IsTemp() // a 4xx reply
		}
		return true // the connection failed under MAIL, RCPT or DATA
	}
	var reply *textproto.Error
	if errors.As(err, &reply) {
		return reply.Code/100 == 4
	}
	if errors.Is(err, ErrNoSTARTTLS) || errors.Is(err, ErrNoAuthMechanism) || errors.Is(err, errAuthCleartext) {
		return false
	}
	var verify *tls.CertificateVerificationError
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) {
		return false
	}
	return true
}

// scrub replaces the password, and the base64 forms AUTH sends it in,
// wherever a server might echo it back.
func (e *Notifier) scrub(s string) string {
	if e.creds == nil || e.creds.password.Value() == "" {
		return s
	}
	p := e.creds.password.Value()
	b64 := base64.StdEncoding.EncodeToString
	for _, secret := range []string{b64([]byte("\x00" + e.creds.username + "\x00" + p)), b64([]byte(p)), p} {
		s = strings.ReplaceAll(s, secret, rules.Secret(secret).String())
	}
	return s
}

// auth is SMTP AUTH: PLAIN if the server offers it, else LOGIN, and only
// over TLS.
type auth struct {
	creds *credentials
	host  string
	mech  smtp.Auth
}

var _ smtp.Auth = (*auth)(nil)

// Start picks the mechanism from what the server offers.
func (a *auth) Start(server *smtp.ServerInfo) (string, []byte, error) {
	if !server.TLS {
		return "", nil, errAuthCleartext
	}
	user, pass := a.creds.username, a.creds.password.Value()
	switch {
	case slices.Contains(server.Auth, "PLAIN"):
		a.mech = smtp.PlainAuth("", user, pass, a.host, false)
	case slices.Contains(server.Auth, "LOGIN"):
		a.mech = smtp.LoginAuth(user, pass, a.host, false)
	case len(server.Auth) == 0:
		return "", nil, fmt.Errorf("%w: it offers no AUTH", ErrNoAuthMechanism)
	default:
		return "", nil, fmt.Errorf("%w: it offers %s", ErrNoAuthMechanism, strings.Join(server.Auth, " "))
	}
	return a.mech.Start(server)
}

// Next continues the chosen mechanism.
func (a *auth) Next(fromServer []byte, more bool) ([]byte, error) {
	return a.mech.Next(fromServer, more)
}

// smtpLogger writes go-mail's SMTP conversation to slog at debug level.
// go-mail redacts AUTH data itself; scrub is the second guard.
type smtpLogger struct {
	log   *slog.Logger
	scrub func(string) string
}

var _ maillog.Logger = (*smtpLogger)(nil)

func (l *smtpLogger) write(level slog.Level, m maillog.Log) {
	dir := "server"
	if m.Direction == maillog.DirClientToServer {
		dir = "client"
	}
	l.log.Log(context.Background(), level, "smtp", "from", dir, "line", l.scrub(fmt.Sprintf(m.Format, m.Messages...)))
}

func (l *smtpLogger) Debugf(m maillog.Log) { l.write(slog.LevelDebug, m) }
func (l *smtpLogger) Infof(m maillog.Log)  { l.write(slog.LevelInfo, m) }
func (l *smtpLogger) Warnf(m maillog.Log)  { l.write(slog.LevelWarn, m) }
func (l *smtpLogger) Errorf(m maillog.Log) { l.write(slog.LevelError, m) }
