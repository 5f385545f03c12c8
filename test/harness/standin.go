package harness

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// FreeLoopbackAddr returns a loopback address ("127.0.0.1:port") whose port was
// free a moment ago.
func FreeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// StandIn serves the VoIPBIN stand-in's handler (voipbintest.Server.Handler, or
// a handler wrapping it, as the soak's recorder does) over plain HTTP on a
// loopback port of its own.
type StandIn struct {
	// URL is the stand-in's base URL, http://127.0.0.1:port, with no trailing slash.
	URL string
	srv *http.Server
	ln  net.Listener
}

// ServeStandIn starts serving h on a free loopback port.
func ServeStandIn(h http.Handler) (*StandIn, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the stand-in: %w", err)
	}
	s := &StandIn{
		URL: "http://" + ln.Addr().String(),
		// Slowloris protection is no concern here, but the linters want a bound.
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		ln:  ln,
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// Close stops the stand-in and closes its connections.
func (s *StandIn) Close() error {
	if err := s.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
