package api

import (
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// A web page open in an operator's browser can send requests to
// remediator: "simple" ones (a form, a text/plain fetch) need no CORS
// preflight, and in open mode (no auth.tokens) they need no credentials
// either. Three checks keep such a page out:
//
//   - A request that changes state (not GET, HEAD or OPTIONS) from
//     another origin is refused with 403 and audited:
//     http.CrossOriginProtection reads Sec-Fetch-Site (cross-site and
//     same-site are refused; another port of 127.0.0.1 is same-site), and
//     without it compares Origin with Host. The origin of
//     server.external_url is this server's too (behind a proxy the Host
//     differs). Requests with neither header, which browsers do not send,
//     pass: curl, Alertmanager, Twilio.
//   - In open mode, and on a loopback listen address whatever the
//     tokens, the Host must be a loopback name or address
//     (localhost, 127.0.0.1, [::1], with or without the port) or the host
//     of server.external_url, else 421: a page whose own name was made to
//     resolve to 127.0.0.1 (DNS rebinding) is same-origin to the browser
//     but names its own host.
//   - An endpoint that reads a JSON body takes only Content-Type
//     application/json (415), which no form can send.

// origins is what the origin and Host checks know of this server.
type origins struct {
	cop *http.CrossOriginProtection
	// external is the host of server.external_url ("" without one).
	external string
}

func newOrigins(externalURL string) (*origins, error) {
	o := &origins{cop: http.NewCrossOriginProtection()}
	if externalURL == "" {
		return o, nil
	}
	u, err := url.Parse(externalURL)
	if err != nil || u.Host == "" {
		return o, fmt.Errorf("api: external URL %q is not an absolute URL", externalURL)
	}
	o.external = u.Host
	return o, o.cop.AddTrustedOrigin(u.Scheme + "://" + u.Host)
}

// refusal is a request refused before it reaches its endpoint.
type refusal struct {
	status int
	msg    string
}

// admit refuses r when it comes from another origin and changes state, or
// (when local: open mode, or a loopback listen address) names a host that
// is not this machine's; nil lets it on.
func (o *origins) admit(r *http.Request, local bool) *refusal {
	if local && !o.hostOK(r.Host) {
		return &refusal{http.StatusMisdirectedRequest, fmt.Sprintf("host %q is not this server: on a loopback address, or without auth.tokens, remediator answers only "+
			"to localhost, 127.0.0.1 and [::1] (and server.external_url's host)", truncate(r.Host, 100))}
	}
	if err := o.cop.Check(r); err != nil {
		return &refusal{http.StatusForbidden, fmt.Sprintf("cross-origin request refused (Sec-Fetch-Site %q, Origin %q): "+
			"a request that changes something must come from remediator's own pages or from a client that is not a browser",
			truncate(r.Header.Get("Sec-Fetch-Site"), 20), truncate(r.Header.Get("Origin"), 100))}
	}
	return nil
}

// hostOK reports whether a Host header names this machine: localhost, a
// loopback address, or the external URL's host.
func (o *origins) hostOK(h string) bool {
	if o.external != "" && strings.EqualFold(h, o.external) {
		return true
	}
	host := h
	if hp, _, err := net.SplitHostPort(h); err == nil {
		host = hp
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// errMediaType is a body whose Content-Type is not application/json.
var errMediaType = errors.New("unsupported media type")

// jsonBody refuses a request body that does not say it is JSON.
func jsonBody(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	got := "has no Content-Type"
	if ct != "" {
		got = fmt.Sprintf("says Content-Type %q", truncate(ct, 60))
	}
	return fmt.Errorf("the body must be JSON sent with Content-Type: application/json; this request %s: %w", got, errMediaType)
}
