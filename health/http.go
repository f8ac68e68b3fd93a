package health

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// MaxBody bounds how much of a response body an HTTP check reads; the digest and the regex
// see at most this much.
const MaxBody = 1 << 20

// HTTPProtocol is keepalived's http_protocol: the request line's version and whether the
// request asks the server to close.
type HTTPProtocol string

// The request forms keepalived sends.
const (
	HTTP10  HTTPProtocol = "1.0"  // HTTP/1.0, no Connection header (keepalived's default)
	HTTP10C HTTPProtocol = "1.0C" // HTTP/1.0 with Connection: close
	HTTP11  HTTPProtocol = "1.1"  // HTTP/1.1 with Connection: close
)

// StatusRange is an inclusive range of HTTP status codes.
type StatusRange struct{ Lo, Hi int }

// URL is one url block of an HTTP_GET: the server passes when every URL of the check passes.
type URL struct {
	Path string
	// Status is the set of passing codes; empty means 200-299.
	Status []StatusRange
	// Digest is the MD5 of the body as keepalived's genhash prints it: 32 hex characters, empty for none.
	Digest string
	// Regex must match the body (or, with RegexNoMatch, must not). Go's RE2 syntax, not PCRE.
	Regex        *regexp.Regexp
	RegexNoMatch bool
	// VirtualHost overrides the check's Host header for this URL.
	VirtualHost string
}

// HTTP is keepalived's HTTP_GET and, with TLS set, SSL_GET. The request is keepalived's own
// ("GET path HTTP/1.0", "User-Agent: KeepAliveClient", Host: vhost or ip:port), and a pass
// needs the status in the URL's set, the body digest equal to Digest and the regex rule met.
type HTTP struct {
	Addr netip.AddrPort
	URLs []URL
	// VirtualHost is the Host header (keepalived's virtualhost, inherited from the real and the
	// virtual server); empty sends the address and port.
	VirtualHost string
	Protocol    HTTPProtocol
	// TLS makes it SSL_GET. Certificates are not verified, as keepalived does not.
	TLS bool
	// SNI is the server name sent in the TLS hello (enable_sni / sni_name); empty sends none.
	SNI string
	Net *Net
}

// Describe names the target: address and the first path.
func (h *HTTP) Describe() (Kind, string) {
	k := KindHTTP
	if h.TLS {
		k = KindSSL
	}
	t := h.Addr.String()
	if len(h.URLs) > 0 {
		t += h.URLs[0].Path
	}
	return k, t
}

// Check fetches every URL in turn, on its own connection as keepalived does.
func (h *HTTP) Check(ctx context.Context) Result {
	if len(h.URLs) == 0 {
		return fail("no url")
	}
	for i := range h.URLs {
		if r := h.get(ctx, &h.URLs[i]); !r.OK {
			if len(h.URLs) > 1 {
				r.Reason = h.URLs[i].Path + ": " + r.Reason
			}
			return r
		}
	}
	return pass()
}

// Request returns the request bytes sent for u, exactly as keepalived's request template.
func (h *HTTP) Request(u *URL) []byte {
	minor, conn := 0, ""
	switch h.Protocol {
	case HTTP10C:
		conn = "Connection: close\r\n"
	case HTTP11:
		minor, conn = 1, "Connection: close\r\n"
	}
	host := u.VirtualHost
	if host == "" {
		host = h.VirtualHost
	}
	if host == "" {
		host = h.Addr.String() // brackets an IPv6 address, as RFC 2732 and keepalived do
	}
	return fmt.Appendf(nil, "GET %s HTTP/1.%d\r\nUser-Agent: KeepAliveClient\r\n%sHost: %s\r\n\r\n", u.Path, minor, conn, host)
}

func (h *HTTP) get(ctx context.Context, u *URL) Result {
	c, err := h.Net.session(ctx, "tcp", h.Addr)
	if err != nil {
		return failErr("connect", err)
	}
	defer c.Close()
	var conn net.Conn = c
	if h.TLS {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: h.SNI}) //nolint:gosec // keepalived does not verify either
		if err := tc.HandshakeContext(ctx); err != nil {
			return failErr("tls handshake", err)
		}
		conn = tc
	}
	if _, err := conn.Write(h.Request(u)); err != nil {
		return failErr("write", err)
	}
	status, body, err := readResponse(bufio.NewReader(conn))
	if err != nil {
		return failErr("read", err)
	}
	if !statusOK(u.Status, status) {
		return fail("HTTP status " + strconv.Itoa(status))
	}
	if u.Digest != "" {
		sum := md5.Sum(body)
		if !strings.EqualFold(hex.EncodeToString(sum[:]), u.Digest) {
			return fail("digest mismatch")
		}
	}
	if u.Regex != nil && u.Regex.Match(body) == u.RegexNoMatch {
		if u.RegexNoMatch {
			return fail("regex matched")
		}
		return fail("regex did not match")
	}
	return pass()
}

func statusOK(set []StatusRange, code int) bool {
	if len(set) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range set {
		if code >= r.Lo && code <= r.Hi {
			return true
		}
	}
	return false
}

// readResponse reads a status line, headers and the body. The body is what follows the header
// block up to Content-Length when the server sent one, else up to the close, with no transfer
// decoding: keepalived's digest covers exactly those bytes.
func readResponse(r *bufio.Reader) (status int, body []byte, err error) {
	line, err := r.ReadString('\n')
	if err != nil {
		if err == io.EOF {
			return 0, nil, errNoData
		}
		return 0, nil, err
	}
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		return 0, nil, errBadStatus
	}
	status, err = strconv.Atoi(f[1])
	if err != nil || status < 100 || status > 999 {
		return 0, nil, errBadStatus
	}
	length := -1
	for {
		h, err := r.ReadString('\n')
		if err != nil {
			return 0, nil, err
		}
		h = strings.TrimRight(h, "\r\n")
		if h == "" {
			break
		}
		if k, v, ok := strings.Cut(h, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Content-Length") {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
				length = n
			}
		}
	}
	limit := int64(MaxBody)
	if length >= 0 && length < MaxBody {
		limit = int64(length)
	}
	var buf bytes.Buffer
	_, err = io.Copy(&buf, io.LimitReader(r, limit))
	if err != nil && length < 0 {
		// Without a length the body ends at the close; a reset after data still leaves a body.
		if buf.Len() == 0 {
			return status, nil, err
		}
	} else if err != nil {
		return 0, nil, err
	}
	return status, buf.Bytes(), nil
}

var (
	errNoData    = errorString("no data received")
	errBadStatus = errorString("malformed status line")
)

type errorString string

func (e errorString) Error() string { return string(e) }
