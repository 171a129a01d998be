// Package twiliotest is what tests of remediator's Twilio channel need of
// Twilio, which lives outside this network: a REST API server that
// checks the wire format Twilio demands (basic auth with the account's
// SID and auth token, the account's Calls.json and Messages.json, the
// form fields a call or a message needs) and answers as Twilio does, and
// the X-Twilio-Signature of a callback, computed as Twilio documents it
// (independently of the client library remediator verifies it with).
package twiliotest

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

// REST answers Twilio's REST API for one account. Each call gets a new
// CallSid (CA…), each message a new MessageSid (SM…). When down
// (SetDown) it answers every well-formed request, which it still
// records, with a 500, as in an outage.
type REST struct {
	T          testing.TB
	SID, Token string

	mu       sync.Mutex
	down     bool
	calls    []url.Values
	messages []url.Values
}

// SetDown makes the server fail (true) or work (false).
func (f *REST) SetDown(down bool) {
	f.mu.Lock()
	f.down = down
	f.mu.Unlock()
}

// ServeHTTP implements http.Handler.
func (f *REST) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	if !ok || user != f.SID || pass != f.Token {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}`)
		return
	}
	if err := r.ParseForm(); err != nil || r.Method != http.MethodPost {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	prefix := "/2010-04-01/Accounts/" + f.SID
	var sid string
	switch r.URL.Path {
	case prefix + "/Calls.json":
		if r.PostForm.Get("To") == "" || r.PostForm.Get("From") == "" || r.PostForm.Get("Twiml") == "" || r.PostForm.Get("StatusCallback") == "" {
			f.T.Errorf("call without To, From, Twiml or StatusCallback: %v", r.PostForm)
		}
		f.calls = append(f.calls, r.PostForm)
		sid = fmt.Sprintf("CA%032d", len(f.calls))
	case prefix + "/Messages.json":
		if r.PostForm.Get("To") == "" || r.PostForm.Get("From") == "" || r.PostForm.Get("Body") == "" {
			f.T.Errorf("message without To, From or Body: %v", r.PostForm)
		}
		f.messages = append(f.messages, r.PostForm)
		sid = fmt.Sprintf("SM%032d", len(f.messages))
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"code":20404,"message":"The requested resource was not found","status":404}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if f.down {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, `{"code":20500,"message":"Internal Server Error","more_info":"https://www.twilio.com/docs/errors/20500","status":500}`)
		return
	}
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{"sid": sid, "account_sid": f.SID, "status": "queued",
		"to": r.PostForm.Get("To"), "from": r.PostForm.Get("From")})
}

// Calls returns the forms of the calls placed so far.
func (f *REST) Calls() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Messages returns the forms of the messages sent so far.
func (f *REST) Messages() []url.Values {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.messages)
}

// Sign is X-Twilio-Signature as Twilio documents it: HMAC-SHA1, keyed
// with the auth token, of the full URL followed by each POST parameter's
// name and value, sorted by name; base64.
func Sign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k + v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
