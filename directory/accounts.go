package directory

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/geofence/geofence/policy"
	"github.com/geofence/geofence/wire"
)

// account resolves an account id against model m: a config account, else an API account
// built against m (cached per model and record revision). The keys are the account's
// join-token keys by kid; nil for config accounts, whose keys are on the policy.Account.
func (c *Core) account(ctx context.Context, m *policy.Model, id string) (*policy.Account, map[string]ed25519.PublicKey, error) {
	if a, ok := m.Accounts[id]; ok {
		return a, nil, nil
	}
	sctx, cancel := c.storeCtx(ctx)
	defer cancel()
	rec, err := c.store.Account(sctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil, nil, errorf(wire.CodeUnknownAccount, "no account %q", id)
	}
	if err != nil {
		return nil, nil, c.storeError("read account", err)
	}
	c.acctMu.Lock()
	b := c.accounts[id]
	c.acctMu.Unlock()
	if b != nil && b.model == m && b.rev == rec.Revision {
		return b.acct, b.keys, nil
	}
	a, keys, err := buildAccount(m, &rec)
	if err != nil {
		// The account names a plan or region this config no longer has.
		return nil, nil, errorf(wire.CodeMeetingStale, "account %s cannot be used with the config in force: %v", id, err)
	}
	c.acctMu.Lock()
	c.accounts[id] = &builtAccount{model: m, rev: rec.Revision, acct: a, keys: keys}
	c.acctMu.Unlock()
	return a, keys, nil
}

// buildAccount checks an API account against model m and builds it.
func buildAccount(m *policy.Model, rec *AccountRecord) (*policy.Account, map[string]ed25519.PublicKey, error) {
	plan, ok := m.Plan(rec.Plan)
	if !ok {
		return nil, nil, fmt.Errorf("unknown plan %q", rec.Plan)
	}
	home := policy.RegionID(policy.None)
	if rec.HomeRegion != "" {
		if home, ok = m.Region(rec.HomeRegion); !ok {
			return nil, nil, fmt.Errorf("unknown home_region %q", rec.HomeRegion)
		}
	}
	var data []policy.RegionID
	if rec.DataRegions != nil {
		data = []policy.RegionID{}
		for _, r := range rec.DataRegions {
			id, ok := m.Region(r)
			if !ok {
				return nil, nil, fmt.Errorf("unknown region %q in data_regions", r)
			}
			data = append(data, id)
		}
	}
	keys := make(map[string]ed25519.PublicKey, len(rec.Keys))
	for i, k := range rec.Keys {
		if !ValidID(k.KID) {
			return nil, nil, fmt.Errorf("keys[%d]: kid must be 1-128 letters, digits, '.', '_' or '-'", i)
		}
		if _, dup := keys[k.KID]; dup {
			return nil, nil, fmt.Errorf("keys[%d]: kid %q is given twice", i, k.KID)
		}
		pub, err := parseKey(k.X)
		if err != nil {
			return nil, nil, fmt.Errorf("keys[%d] (%s): %w", i, k.KID, err)
		}
		keys[k.KID] = pub
	}
	return m.NewAccount(rec.ID, plan, home, data), keys, nil
}

// parseKey reads the "x" of an Ed25519 key: base64url without padding, 32 bytes (RFC 8037).
func parseKey(x string) (ed25519.PublicKey, error) {
	b, err := base64.RawURLEncoding.DecodeString(x)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("x must be a 32-byte Ed25519 public key in base64url without padding")
	}
	return ed25519.PublicKey(b), nil
}

// ErrUnknownAccount and ErrUnknownKey are AccountKey's answers for an account or key id
// that is not registered.
var (
	ErrUnknownAccount = errors.New("unknown account")
	ErrUnknownKey     = errors.New("unknown key")
)

// AccountKey returns the public key kid registered on account (in the config or through the
// API), which verifies the account's join tokens (DESIGN.md section 10).
func (c *Core) AccountKey(ctx context.Context, account, kid string) (ed25519.PublicKey, error) {
	for _, k := range c.cfg.ExtraKeys {
		if k.Account == account && k.KID == kid {
			return k.Public, nil
		}
	}
	m := c.Model()
	a, keys, err := c.account(ctx, m, account)
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == wire.CodeUnknownAccount {
			return nil, fmt.Errorf("account %q: %w", account, ErrUnknownAccount)
		}
		return nil, err
	}
	if keys == nil { // a config account
		if pub, ok := a.Key(kid); ok {
			return pub, nil
		}
	} else if pub, ok := keys[kid]; ok {
		return pub, nil
	}
	return nil, fmt.Errorf("key %q of account %q: %w", kid, account, ErrUnknownKey)
}

// PutAccount creates or replaces an API account, after checking it against the model in
// force. Accounts of the config cannot be changed here.
func (c *Core) PutAccount(ctx context.Context, a wire.Account) (wire.Account, bool, error) {
	if !ValidID(a.ID) {
		return wire.Account{}, false, errorf(wire.CodeBadRequest, "account id must be 1-128 letters, digits, '.', '_' or '-'")
	}
	m := c.Model()
	if _, ok := m.Accounts[a.ID]; ok {
		return wire.Account{}, false, errorf(wire.CodeConfigAccount, "account %s is defined in the config; change it there", a.ID)
	}
	rec := AccountRecord{ID: a.ID, Plan: a.Plan, HomeRegion: a.HomeRegion, DataRegions: a.DataRegions, Keys: a.Keys}
	if _, _, err := buildAccount(m, &rec); err != nil {
		return wire.Account{}, false, errorf(wire.CodeBadRequest, "account %s: %v", a.ID, err)
	}
	stored, created, err := c.store.PutAccount(ctx, rec)
	if err != nil {
		return wire.Account{}, false, c.storeError("put account", err)
	}
	c.log.Info("account stored", "account", a.ID, "plan", a.Plan, "home_region", a.HomeRegion,
		"data_regions", a.DataRegions, "keys", len(a.Keys), "created", created)
	return stored.Wire(), created, nil
}

// GetAccount returns an account of the config or of the API.
func (c *Core) GetAccount(ctx context.Context, id string) (wire.Account, error) {
	m := c.Model()
	if a, ok := m.Accounts[id]; ok {
		return configAccount(m, a), nil
	}
	rec, err := c.store.Account(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return wire.Account{}, errorf(wire.CodeUnknownAccount, "no account %q", id)
	}
	if err != nil {
		return wire.Account{}, c.storeError("read account", err)
	}
	return rec.Wire(), nil
}

// ListAccounts returns the accounts of the config, then those of the API.
func (c *Core) ListAccounts(ctx context.Context) ([]wire.Account, error) {
	m := c.Model()
	out := []wire.Account{}
	for _, ca := range m.Config.Accounts {
		if a, ok := m.Accounts[ca.ID]; ok {
			out = append(out, configAccount(m, a))
		}
	}
	recs, err := c.store.Accounts(ctx)
	if err != nil {
		return nil, c.storeError("list accounts", err)
	}
	for i := range recs {
		out = append(out, recs[i].Wire())
	}
	return out, nil
}

// DeleteAccount removes an API account. Its meetings are refused from then on
// (meeting_stale).
func (c *Core) DeleteAccount(ctx context.Context, id string) error {
	if _, ok := c.Model().Accounts[id]; ok {
		return errorf(wire.CodeConfigAccount, "account %s is defined in the config; remove it there", id)
	}
	err := c.store.DeleteAccount(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return errorf(wire.CodeUnknownAccount, "no account %q", id)
	}
	if err != nil {
		return c.storeError("delete account", err)
	}
	c.acctMu.Lock()
	delete(c.accounts, id)
	c.acctMu.Unlock()
	c.log.Info("account deleted", "account", id)
	return nil
}

func configAccount(m *policy.Model, a *policy.Account) wire.Account {
	w := wire.Account{ID: a.ID, Plan: m.Plans[a.Plan].ID, DataRegions: regionIDs(m, a.DataRegions), Source: "config"}
	if a.HomeRegion != policy.None {
		w.HomeRegion = m.Regions[a.HomeRegion].ID
	}
	for _, k := range a.Keys {
		w.Keys = append(w.Keys, wire.AccountKey{KID: k.KID, X: base64.RawURLEncoding.EncodeToString(k.Public)})
	}
	return w
}

// ExplainModel is the model in force extended with API account id, so that explain can
// answer for accounts created at run time; m itself when id is a config account or unknown.
func (c *Core) ExplainModel(ctx context.Context, m *policy.Model, id string) *policy.Model {
	if id == "" {
		return m
	}
	if _, ok := m.Accounts[id]; ok {
		return m
	}
	a, _, err := c.account(ctx, m, id)
	if err != nil {
		return m
	}
	cp := *m
	cp.Accounts = make(map[string]*policy.Account, len(m.Accounts)+1)
	for k, v := range m.Accounts {
		cp.Accounts[k] = v
	}
	cp.Accounts[a.ID] = a
	return &cp
}
