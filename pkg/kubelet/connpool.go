/*
Copyright The metrics-apiserver Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
*/

package kubelet

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// connPool is the round tripper under the kubelet client: HTTP/1.1 GETs over
// TLS connections kept alive per host:port, with no goroutine per connection.
//
// net/http's Transport parks a read-loop and a write-loop goroutine on every
// kept-alive HTTP/1.1 connection (two stacks of ~4 KB each, plus the
// persistConn and its buffers and channels) and hands every request and
// response between them and the caller. A scraper holds one connection per
// node that carries one request per resolution, so that machinery is most of
// what a connection costs while idle and a good part of the scheduling work
// of a scrape. Here the caller's goroutine writes the request (with
// http.Request.Write) and reads the response (http.ReadResponse) itself, with
// buffers taken from pools only for the exchange; an idle connection is the
// tls.Conn and a small record in a map.
//
// The configuration is std's (TLS config, dialer, proxy, handshake and idle
// timeouts, idle connections per host), and std itself serves what the pool
// does not: requests to be proxied, with a body, or not https. What net/http
// does and the pool does too: a GET that fails on a reused connection before
// any byte of the response came back (the kubelet closed it while idle) is
// retried once on a new connection; a response body must be read to its end
// and closed for the connection to be kept; "Connection: close" is honored;
// idle connections are closed after IdleConnTimeout (one timer for the pool)
// and by CloseIdleConnections; the context's deadline and cancellation
// interrupt the exchange; httptrace's GotConn is reported. What it does not:
// HTTP/2, 100-continue, proxies and request bodies (all left to std), and
// noticing that a kubelet closed an idle connection before the next request
// (the retry covers it).
type connPool struct {
	std *http.Transport

	mu       sync.Mutex
	idle     map[string]*poolConn // per host:port, a stack linked by next (newest first); never an empty one
	sweeper  *time.Timer          // runs sweep while connections are idle; nil until needed
	sweeping bool                 // sweeper is armed
}

// poolConn is one connection to a kubelet.
type poolConn struct {
	conn      *tls.Conn
	key       string
	idleSince time.Time
	next      *poolConn // next idle connection to the same host:port
}

// newConnPool returns a pool configured like std, which must have its
// TLSClientConfig and DialContext set (transportFor's does).
func newConnPool(std *http.Transport) *connPool {
	return &connPool{std: std, idle: make(map[string]*poolConn)}
}

// CloseIdleConnections closes every idle connection (std's too).
func (p *connPool) CloseIdleConnections() {
	p.mu.Lock()
	var closing []*poolConn
	for key, pc := range p.idle {
		for ; pc != nil; pc = pc.next {
			closing = append(closing, pc)
		}
		delete(p.idle, key)
	}
	p.mu.Unlock()
	closeAll(closing)
	p.std.CloseIdleConnections()
}

func closeAll(pcs []*poolConn) {
	for _, pc := range pcs {
		pc.conn.Close()
	}
}

// RoundTrip implements http.RoundTripper.
func (p *connPool) RoundTrip(req *http.Request) (*http.Response, error) {
	if !p.serves(req) {
		return p.std.RoundTrip(req)
	}
	ctx := req.Context()
	key := hostPort(req.URL.Host)
	for attempt := 0; ; attempt++ {
		pc, reused, err := p.get(ctx, key)
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("%w (%w)", context.Cause(ctx), err)
			}
			return nil, err
		}
		resp, noResponse, err := p.exchange(ctx, pc, req)
		if err == nil {
			return resp, nil
		}
		pc.conn.Close()
		if reused && noResponse && attempt == 0 && ctx.Err() == nil {
			continue // closed while idle: GET is idempotent
		}
		if ctx.Err() != nil {
			// The context's end interrupted the exchange: report why, as
			// net/http does.
			return nil, fmt.Errorf("%w (%w)", context.Cause(ctx), err)
		}
		return nil, err
	}
}

// serves reports whether the pool serves req itself; std serves the rest.
func (p *connPool) serves(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "https" || req.URL.Host == "" ||
		req.Method != http.MethodGet && req.Method != http.MethodHead ||
		req.Body != nil && req.Body != http.NoBody || p.std.DisableKeepAlives {
		return false
	}
	if p.std.Proxy != nil {
		if u, err := p.std.Proxy(req); err != nil || u != nil {
			return false // std proxies it, or reports the error
		}
	}
	return true
}

// hostPort is the pool key of a URL host: host:port, 443 by default.
func hostPort(host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(host, "443")
}

// get returns an idle connection to key, or dials one.
func (p *connPool) get(ctx context.Context, key string) (*poolConn, bool, error) {
	var stale []*poolConn
	p.mu.Lock()
	now := time.Now()
	for pc := p.idle[key]; pc != nil; pc = p.idle[key] {
		p.pop(key, pc)
		if p.expired(pc, now) {
			stale = append(stale, pc)
			continue
		}
		p.mu.Unlock()
		closeAll(stale)
		gotConn(ctx, pc, true, now)
		return pc, true, nil
	}
	p.mu.Unlock()
	closeAll(stale)
	pc, err := p.dial(ctx, key)
	if err != nil {
		return nil, false, err
	}
	gotConn(ctx, pc, false, now)
	return pc, false, nil
}

func gotConn(ctx context.Context, pc *poolConn, reused bool, now time.Time) {
	trace := httptrace.ContextClientTrace(ctx)
	if trace == nil || trace.GotConn == nil {
		return
	}
	info := httptrace.GotConnInfo{Conn: pc.conn, Reused: reused, WasIdle: reused}
	if reused {
		info.IdleTime = now.Sub(pc.idleSince)
	}
	trace.GotConn(info)
}

// pop removes pc, the top of key's stack. p.mu is held.
func (p *connPool) pop(key string, pc *poolConn) {
	if pc.next == nil {
		delete(p.idle, key)
	} else {
		p.idle[key] = pc.next
	}
	pc.next = nil
}

func (p *connPool) expired(pc *poolConn, now time.Time) bool {
	return p.std.IdleConnTimeout > 0 && now.Sub(pc.idleSince) >= p.std.IdleConnTimeout
}

// dial opens a TLS connection to key the way std would: its dialer, its TLS
// config with the host as server name, its handshake timeout.
func (p *connPool) dial(ctx context.Context, key string) (*poolConn, error) {
	raw, err := p.std.DialContext(ctx, "tcp", key)
	if err != nil {
		return nil, err
	}
	cfg := p.std.TLSClientConfig.Clone()
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(key)
		cfg.ServerName = host
	}
	tc := tls.Client(raw, cfg)
	hctx := ctx
	if d := p.std.TLSHandshakeTimeout; d > 0 {
		var cancel context.CancelFunc
		hctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	if err := tc.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, err
	}
	if proto := tc.ConnectionState().NegotiatedProtocol; proto != "" && proto != "http/1.1" {
		tc.Close()
		return nil, fmt.Errorf("kubelet at %s negotiated %q, want http/1.1", key, proto)
	}
	return &poolConn{conn: tc, key: key}, nil
}

// aLongTimeAgo is a deadline in the past: it interrupts blocked reads and writes.
var aLongTimeAgo = time.Unix(1, 0)

// Pooled only for the duration of one exchange: an idle connection holds
// neither. The reader is the size of net/http's (a response head and the
// body's first bytes); bodies are read in larger chunks, which bypass it.
var (
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, connWriteBufferSize) }}
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
)

// exchange writes req on pc and reads the response head; the body reads from
// pc until it is closed. noResponse tells that the exchange failed before any
// byte of a response was read: what a connection the kubelet closed while it
// was idle gives (the write fails, or the read finds the end of the stream or
// a reset).
func (p *connPool) exchange(ctx context.Context, pc *poolConn, req *http.Request) (resp *http.Response, noResponse bool, err error) {
	// The context interrupts the exchange when it is done, and only then:
	// a read or write that fails because of it is reported with the
	// context's error (ctx.Err is set before AfterFunc runs), as net/http
	// does; a deadline of the connection's own could fire first.
	c := pc.conn
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })

	bw := writerPool.Get().(*bufio.Writer)
	bw.Reset(c)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writerPool.Put(bw)
	if err != nil {
		stop()
		return nil, true, err
	}

	br := readerPool.Get().(*bufio.Reader)
	br.Reset(c)
	// http.ReadResponse reports an empty stream as io.ErrUnexpectedEOF, like
	// a truncated one: look for the first byte first.
	if _, err = br.Peek(1); err != nil {
		noResponse = true
	} else {
		resp, err = http.ReadResponse(br, req)
	}
	for err == nil && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(br, req) // 1xx: the final response follows
	}
	if err != nil {
		stop()
		br.Reset(nil)
		readerPool.Put(br)
		return nil, noResponse, err
	}
	resp.Body = &poolBody{
		p: p, pc: pc, br: br, body: resp.Body, stop: stop, ctx: ctx,
		keep: !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols,
		eof:  resp.Body == http.NoBody,
	}
	return resp, false, nil
}

var errBodyClosed = errors.New("http: read on closed response body")

// poolBody is a response body; closing it after reading it to its end gives
// the connection back to the pool, closing it earlier closes the connection.
// Like any response body, it is read and closed by one goroutine at a time.
type poolBody struct {
	p      *connPool
	pc     *poolConn
	br     *bufio.Reader
	body   io.ReadCloser   // http.ReadResponse's
	stop   func() bool     // unregisters the context's AfterFunc
	ctx    context.Context // the request's
	keep   bool            // the response lets the connection be reused
	eof    bool
	closed bool
}

func (b *poolBody) Read(q []byte) (int, error) {
	if b.closed {
		return 0, errBodyClosed
	}
	n, err := b.body.Read(q)
	switch {
	case err == io.EOF:
		b.eof = true
	case err != nil && b.ctx.Err() != nil:
		err = fmt.Errorf("%w (%w)", context.Cause(b.ctx), err)
	}
	return n, err
}

func (b *poolBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	// stop is false when the context's AfterFunc ran (or runs): the
	// connection's deadline is in the past, so it is not reused.
	reuse := b.stop() && b.eof && b.keep && b.br.Buffered() == 0
	b.br.Reset(nil)
	readerPool.Put(b.br)
	b.br = nil
	if !reuse {
		return b.pc.conn.Close()
	}
	b.p.put(b.pc)
	return nil
}

// put makes pc idle, unless key already has as many idle connections as std
// allows per host.
func (p *connPool) put(pc *poolConn) {
	max := p.std.MaxIdleConnsPerHost
	if max == 0 {
		max = http.DefaultMaxIdleConnsPerHost
	}
	p.mu.Lock()
	n := 0
	for o := p.idle[pc.key]; o != nil; o = o.next {
		n++
	}
	if max < 0 || n >= max {
		p.mu.Unlock()
		pc.conn.Close()
		return
	}
	pc.idleSince = time.Now()
	pc.next = p.idle[pc.key]
	p.idle[pc.key] = pc
	p.armSweeper()
	p.mu.Unlock()
}

// armSweeper schedules a sweep one idle timeout from now. p.mu is held.
func (p *connPool) armSweeper() {
	d := p.std.IdleConnTimeout
	if d <= 0 || p.sweeping {
		return
	}
	p.sweeping = true
	if p.sweeper == nil {
		p.sweeper = time.AfterFunc(d, p.sweep)
	} else {
		p.sweeper.Reset(d)
	}
}

// sweep closes connections idle for IdleConnTimeout and stays armed while any
// connection is idle. A stack is newest first, so its expired connections
// are its tail.
func (p *connPool) sweep() {
	p.mu.Lock()
	now := time.Now()
	var closing []*poolConn
	for key, top := range p.idle {
		if p.expired(top, now) {
			delete(p.idle, key)
			for pc := top; pc != nil; pc = pc.next {
				closing = append(closing, pc)
			}
			continue
		}
		for pc := top; pc.next != nil; pc = pc.next {
			if p.expired(pc.next, now) {
				for old := pc.next; old != nil; old = old.next {
					closing = append(closing, old)
				}
				pc.next = nil
				break
			}
		}
	}
	p.sweeping = false
	if len(p.idle) > 0 {
		p.armSweeper()
	}
	p.mu.Unlock()
	closeAll(closing)
}
