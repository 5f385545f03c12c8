package voipbintest

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
)

const (
	// maxPageSize is the server's largest page; larger asks are clamped.
	maxPageSize = 100
	// prefixLength is the length of token_prefix.
	prefixLength = 11
	// minAccessKeyExpire is the shortest lifetime (seconds) a created key may
	// have: one day.
	minAccessKeyExpire = 86400
	// defaultAccessKeyLifetime is the lifetime of keys added without Expire.
	defaultAccessKeyLifetime = 365 * 24 * time.Hour
)

// AccessKey is an accesskey of the stand-in. Times are kept to the
// microsecond, like the real database.
type AccessKey struct {
	ID         string
	CustomerID string
	Name       string
	Detail     string
	// Key is the full key ("vb_" and 32 characters). The API shows it only in
	// the answer of the create call.
	Key string
	// Expire is when the key stops authenticating.
	Expire time.Time
	// Create, Update are the key's tm_create and tm_update.
	Create, Update time.Time
	// Delete is zero while the key is live; DeleteAccessKey sets it.
	Delete time.Time
}

// Prefix returns the key's token_prefix: its first 11 characters.
func (k AccessKey) Prefix() string {
	if len(k.Key) <= prefixLength {
		return k.Key
	}
	return k.Key[:prefixLength]
}

// AddAccessKey adds k and returns it with its missing fields generated: a
// random ID and Key, DefaultCustomerID, an Expire one year ahead, and a
// Create just before now that is strictly later than every key added before
// (so that keys added in a row have distinct tm_create, newest last). A
// Create k already has is kept unless another key holds that microsecond;
// then it moves to the next free one: no two keys share a tm_create.
func (s *Server) AddAccessKey(k AccessKey) AccessKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addAccessKeyLocked(k)
}

// AddAccessKeys adds n keys with generated fields for customerID (""
// meaning DefaultCustomerID), with distinct tm_create, and returns them in
// the order added (oldest first).
func (s *Server) AddAccessKeys(n int, customerID string) []AccessKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AccessKey, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, s.addAccessKeyLocked(AccessKey{CustomerID: customerID, Name: "key-" + strconv.Itoa(i)}))
	}
	return out
}

func (s *Server) addAccessKeyLocked(k AccessKey) AccessKey {
	now := s.now().UTC()
	if k.ID == "" {
		k.ID = newUUID()
	}
	if k.CustomerID == "" {
		k.CustomerID = s.defaultCustomerID
	}
	if _, ok := s.customers[k.CustomerID]; !ok {
		s.customers[k.CustomerID] = ""
	}
	if k.Key == "" {
		k.Key = NewAccessKeySecret()
	}
	k.Create = s.keyCreateLocked(k.Create, now)
	if k.Expire.IsZero() {
		k.Expire = now.Add(defaultAccessKeyLifetime)
	}
	k.Expire = k.Expire.UTC().Truncate(time.Microsecond)
	if k.Update.IsZero() {
		k.Update = k.Create
	}
	k.Update = k.Update.UTC().Truncate(time.Microsecond)
	stored := k
	s.keys = append(s.keys, &stored)
	return k
}

// keyCreateLocked returns the tm_create of a new key: the real server's is
// its clock at creation, to the microsecond, and it orders and pages
// listings by it, so two keys must never share one. A generated time (asked
// is zero) is a second before now, so that a listing "before now" holds the
// key even on a frozen test clock, and at least a microsecond after every
// earlier key: max(now-1s, last+1µs). The comparison is made on the
// truncated time: comparing first and truncating after gave keys created
// within the same microsecond equal times. An asked time is kept, moved
// forward to the next microsecond no other key holds.
func (s *Server) keyCreateLocked(asked, now time.Time) time.Time {
	t := asked.UTC().Truncate(time.Microsecond)
	if asked.IsZero() {
		t = now.Add(-time.Second).UTC().Truncate(time.Microsecond)
		if !t.After(s.lastKeyCreate) {
			t = s.lastKeyCreate.Add(time.Microsecond)
		}
	}
	for s.keyCreates[t.UnixMicro()] {
		t = t.Add(time.Microsecond)
	}
	s.keyCreates[t.UnixMicro()] = true
	if t.After(s.lastKeyCreate) {
		s.lastKeyCreate = t
	}
	return t
}

// DeleteAccessKey soft-deletes the key with id (sets tm_delete): it stops
// authenticating and leaves listings. It reports whether the key exists.
func (s *Server) DeleteAccessKey(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keyByIDLocked(id)
	if k == nil {
		return false
	}
	if k.Delete.IsZero() {
		k.Delete = s.now().UTC().Truncate(time.Microsecond)
		k.Update = k.Delete
	}
	return true
}

// SetAccessKeyExpiry changes the key's tm_expire. An expired key stops
// authenticating but is still listed. It reports whether the key exists.
func (s *Server) SetAccessKeyExpiry(id string, expire time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.keyByIDLocked(id)
	if k != nil {
		k.Expire = expire.UTC().Truncate(time.Microsecond)
	}
	return k != nil
}

// AccessKeys returns a copy of every key, deleted ones included, in the order
// added.
func (s *Server) AccessKeys() []AccessKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]AccessKey, 0, len(s.keys))
	for _, k := range s.keys {
		out = append(out, *k)
	}
	return out
}

func (s *Server) keyByIDLocked(id string) *AccessKey {
	for _, k := range s.keys {
		if k.ID == id {
			return k
		}
	}
	return nil
}

// accessKeyJSON is the API's accesskey object. `token` appears only in the
// answer of the create call.
type accessKeyJSON struct {
	ID          string  `json:"id"`
	CustomerID  string  `json:"customer_id"`
	Name        string  `json:"name,omitempty"`
	Detail      string  `json:"detail,omitempty"`
	Token       string  `json:"token,omitempty"`
	TokenPrefix string  `json:"token_prefix"`
	TMExpire    string  `json:"tm_expire"`
	TMCreate    string  `json:"tm_create"`
	TMUpdate    string  `json:"tm_update"`
	TMDelete    *string `json:"tm_delete"`
}

// formatTime writes t as RFC 3339 UTC with as many fractional digits as it
// needs (none to nine): the variable precision clients must cope with.
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func toJSON(k *AccessKey, withToken bool) accessKeyJSON {
	out := accessKeyJSON{
		ID: k.ID, CustomerID: k.CustomerID, Name: k.Name, Detail: k.Detail, TokenPrefix: k.Prefix(),
		TMExpire: formatTime(k.Expire), TMCreate: formatTime(k.Create), TMUpdate: formatTime(k.Update),
	}
	if withToken {
		out.Token = k.Key
	}
	if !k.Delete.IsZero() {
		d := formatTime(k.Delete)
		out.TMDelete = &d
	}
	return out
}

// handleListAccessKeys is GET /v1.0/accesskeys: the caller's customer's live
// keys (expired ones included), newest first by tm_create, entries strictly
// older than page_token (default: now), page_size default 100 and clamped to
// 100. next_page_token is the tm_create of the page's last entry, so it is
// not empty on the last page; it is empty only for an empty page.
func (s *Server) handleListAccessKeys(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	query := r.URL.Query()
	pageSize := maxPageSize
	if v := query.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, ReasonInvalidArgument, "page_size must be a number.")
			return
		}
		if n > 0 && n < maxPageSize {
			pageSize = n
		}
	}
	s.mu.Lock()
	bound := s.now()
	s.mu.Unlock()
	if v := query.Get("page_token"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, ReasonInvalidArgument, "page_token must be a timestamp.")
			return
		}
		bound = t
	}

	s.mu.Lock()
	var matching []*AccessKey
	for _, k := range s.keys {
		if k.CustomerID == p.customerID && k.Delete.IsZero() && k.Create.Before(bound) {
			matching = append(matching, k)
		}
	}
	slices.SortStableFunc(matching, func(a, b *AccessKey) int { return b.Create.Compare(a.Create) })
	if len(matching) > pageSize {
		matching = matching[:pageSize]
	}
	result := make([]accessKeyJSON, 0, len(matching))
	for _, k := range matching {
		result = append(result, toJSON(k, false))
	}
	s.mu.Unlock()

	next := ""
	if len(result) > 0 {
		next = result[len(result)-1].TMCreate
	}
	writeJSON(w, http.StatusOK, struct {
		Result        []accessKeyJSON `json:"result"`
		NextPageToken string          `json:"next_page_token"`
	}{result, next})
}

// handleCreateAccessKey is POST /v1.0/accesskeys {"name","detail","expire"}:
// expire (seconds) below a day or missing is 400 INVALID_ARGUMENT. The answer
// is the only one that holds `token`.
func (s *Server) handleCreateAccessKey(w http.ResponseWriter, r *http.Request) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	var body struct {
		Name   string `json:"name"`
		Detail string `json:"detail"`
		Expire int64  `json:"expire"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxLoginBody))
	if err != nil || json.Unmarshal(data, &body) != nil {
		writeError(w, http.StatusBadRequest, ReasonInvalidArgument, "The request body is not valid.")
		return
	}
	if body.Expire < minAccessKeyExpire {
		writeError(w, http.StatusBadRequest, ReasonInvalidArgument, "expire must be at least 86400 seconds.")
		return
	}
	s.mu.Lock()
	k := s.addAccessKeyLocked(AccessKey{
		CustomerID: p.customerID, Name: body.Name, Detail: body.Detail,
		Expire: s.now().Add(time.Duration(float64(body.Expire) / minAccessKeyExpire * float64(s.keyDay))),
	})
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, toJSON(&k, true))
}

// handleGetAccessKey is GET /v1.0/accesskeys/{id}: 400 for a non-UUID id, 404
// for an unknown one (or another customer's), 409 for a deleted one.
func (s *Server) handleGetAccessKey(w http.ResponseWriter, r *http.Request) {
	s.withOwnKey(w, r, func(k *AccessKey) accessKeyJSON { return toJSON(k, false) })
}

// handleDeleteAccessKey is DELETE /v1.0/accesskeys/{id}: a soft delete, with
// the same errors as the get.
func (s *Server) handleDeleteAccessKey(w http.ResponseWriter, r *http.Request) {
	s.withOwnKey(w, r, func(k *AccessKey) accessKeyJSON {
		k.Delete = s.now().UTC().Truncate(time.Microsecond)
		k.Update = k.Delete
		return toJSON(k, false)
	})
}

// withOwnKey authenticates, finds the caller's live key {id}, and answers
// with f's result (f runs under the lock).
func (s *Server) withOwnKey(w http.ResponseWriter, r *http.Request, f func(*AccessKey) accessKeyJSON) {
	p, ok := s.authenticate(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	if !isUUID(id) {
		writeError(w, http.StatusBadRequest, ReasonInvalidArgument, "The id is not a UUID.")
		return
	}
	s.mu.Lock()
	k := s.keyByIDLocked(id)
	switch {
	case k == nil || k.CustomerID != p.customerID:
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, ReasonNotFound, "The accesskey does not exist.")
	case !k.Delete.IsZero():
		s.mu.Unlock()
		writeError(w, http.StatusConflict, ReasonConflict, "The accesskey was deleted.")
	default:
		out := f(k)
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, out)
	}
}

func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if (c < '0' || c > '9') && (c < 'a' || c > 'f') && (c < 'A' || c > 'F') {
				return false
			}
		}
	}
	return true
}
