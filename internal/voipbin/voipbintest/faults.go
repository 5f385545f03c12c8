package voipbintest

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// OversizedBodyBytes is the size of a Fault.Oversized body: more than the
// 1 MiB a client reads.
const OversizedBodyBytes = 1<<20 + 64<<10

// Fault is an injected misbehaviour for the next Count requests to one path.
// Hang applies first (then the request is handled normally, unless another
// field says otherwise); then the first set of Reset, Redirect, Garbage,
// Oversized, Status answers.
type Fault struct {
	// Count is how many requests the fault answers; 0 means 1.
	Count int
	// Status answers with this status and, unless EmptyBody, the error
	// envelope with Reason (derived from the status when empty).
	Status int
	// Reason is the envelope's reason for Status.
	Reason string
	// EmptyBody answers Status with no body at all.
	EmptyBody bool
	// RetryAfter, when not empty, is sent as the Retry-After header, as is
	// (seconds, an HTTP-date, or garbage).
	RetryAfter string
	// Hang waits this long before answering; if the client gives up first,
	// nothing is answered.
	Hang time.Duration
	// Reset closes the connection without answering (a TCP reset).
	Reset bool
	// Garbage answers 200 with a body that is not JSON.
	Garbage bool
	// Oversized answers 200 with a JSON-looking body of OversizedBodyBytes.
	Oversized bool
	// Redirect answers 302 with this Location.
	Redirect string
	// LoseAnswer handles the request, then resets the connection instead of
	// answering: the call took effect (a key was created), the client never
	// learns it.
	LoseAnswer bool
	// Method, when set, limits the fault to requests of that method (POST
	// /v1.0/accesskeys, not the listing); others pass it by.
	Method string
}

// InjectFault queues f for the next requests to path (exact match, e.g.
// "/auth/login"). Faults queued for one path apply one after the other.
func (s *Server) InjectFault(path string, f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], &f)
}

// ClearFaults drops every queued fault and every "down" switch.
func (s *Server) ClearFaults() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.faults)
	clear(s.down)
}

// SetDown makes every request to path answer status (with the envelope)
// until SetDown(path, 0).
func (s *Server) SetDown(path string, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		delete(s.down, path)
		return
	}
	s.down[path] = status
}

func (s *Server) downStatus(path string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	status, ok := s.down[path]
	return status, ok
}

// takeFault returns the fault for the next request to path with method, if any, and
// counts the request against it.
func (s *Server) takeFault(method, path string) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	queue := s.faults[path]
	if len(queue) == 0 || (queue[0].Method != "" && queue[0].Method != method) {
		return Fault{}, false
	}
	f := queue[0]
	f.Count--
	if f.Count <= 0 {
		s.faults[path] = queue[1:]
	}
	return *f, true
}

// applyFault answers r according to f and reports whether it did; false
// means the request goes on to normal handling (a bare Hang). raw is the
// server's own writer, for hijacking.
func (s *Server) applyFault(raw http.ResponseWriter, w http.ResponseWriter, r *http.Request, ref recordRef, f Fault) bool {
	if f.Hang > 0 {
		s.setFault(ref, "hang")
		timer := time.NewTimer(f.Hang)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-r.Context().Done():
			return true
		}
	}
	switch {
	case f.Reset:
		s.setFault(ref, "reset")
		resetConnection(raw)
	case f.LoseAnswer:
		s.setFault(ref, "lost answer")
		s.mux.ServeHTTP(&discardWriter{header: http.Header{}}, r)
		resetConnection(raw)
	case f.Redirect != "":
		s.setFault(ref, "redirect")
		w.Header().Set("Location", f.Redirect)
		w.WriteHeader(http.StatusFound)
	case f.Garbage:
		s.setFault(ref, "garbage")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("<html><body>502 Bad Gateway (a proxy's idea of JSON)</body></html>"))
	case f.Oversized:
		s.setFault(ref, "oversized")
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(OversizedBodyBytes))
		w.WriteHeader(http.StatusOK)
		prefix := `{"username":"x","token":"`
		suffix := `"}`
		_, _ = w.Write([]byte(prefix + strings.Repeat("a", OversizedBodyBytes-len(prefix)-len(suffix)) + suffix))
	case f.Status != 0:
		s.setFault(ref, "status")
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.EmptyBody {
			w.WriteHeader(f.Status)
		} else {
			writeError(w, f.Status, f.Reason, "")
		}
	default:
		return false
	}
	return true
}

// discardWriter takes an answer nobody will read.
type discardWriter struct{ header http.Header }

func (w *discardWriter) Header() http.Header         { return w.header }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}

// resetConnection closes the request's connection without an answer, with
// SO_LINGER 0 so that the client sees a reset rather than a clean close.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // closes the connection without answering
	}
	netConn := conn
	if tc, ok := conn.(interface{ NetConn() net.Conn }); ok {
		netConn = tc.NetConn()
	}
	if tcp, ok := netConn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = netConn.Close()
}
