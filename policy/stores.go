package policy

import (
	"github.com/geofence/geofence/config"
	"github.com/geofence/geofence/geo"
)

// Store is a place shared state lives (DESIGN.md section 9): the store is a location, and a
// meeting's record and sealed keys go only to a store whose country the meeting's rules allow.
type Store struct {
	ID      string
	Country geo.Country
	Regions []RegionID // empty: the default store
	Pos     config.Pos
}

// StoreID is a dense index into Model.Stores.
type StoreID int16

// buildStores fills m.Stores and the region-to-store index from the config. Stores whose
// country is not a country (reported by config) are left out; their regions have no store.
func (m *Model) buildStores(c *config.Config) {
	m.storeOf = make([]StoreID, len(m.Regions))
	for i := range m.storeOf {
		m.storeOf[i] = None
	}
	def := StoreID(None)
	for _, cs := range c.Stores {
		k, ok := geo.LookupCountry(cs.Country.Value)
		if !ok {
			continue
		}
		id := StoreID(len(m.Stores))
		st := Store{ID: cs.ID, Country: k, Pos: cs.Country.Pos}
		for _, n := range cs.Regions {
			if r, ok := m.regionByID[n.Value]; ok {
				st.Regions = append(st.Regions, r)
				if m.storeOf[r] == None {
					m.storeOf[r] = id
				}
			}
		}
		if cs.Default() && def == None {
			def = id
		}
		m.Stores = append(m.Stores, st)
	}
	for i := range m.storeOf {
		if m.storeOf[i] == None {
			m.storeOf[i] = def
		}
	}
}

// StoreOf is the store that holds the state of region r's meetings; ok is false when the
// config declares no stores (one store, wherever the deployment puts it) or none for r.
func (m *Model) StoreOf(r RegionID) (StoreID, bool) {
	if int(r) < 0 || int(r) >= len(m.storeOf) || m.storeOf[r] == None {
		return None, false
	}
	return m.storeOf[r], true
}

// CheckStore says whether store st may hold the state of meetings of region r hosted on plan p:
// every rule that applies to (r, p) allows the store's country and none denies it, as for a
// datacenter (DESIGN.md section 5); dedicated classes do not apply to stores.
func (m *Model) CheckStore(r RegionID, p PlanID, st StoreID) Verdict {
	c := m.Stores[st].Country
	for i := range m.Rules {
		rule := &m.Rules[i]
		if rule.AppliesTo(r, p) && rule.Forbids(c) {
			return Verdict{Reason: ByRule, Rule: i}
		}
	}
	return Verdict{Reason: Allowed, Rule: -1}
}
