package audit

import (
	"encoding/json"
	"strconv"
)

// appendEntry appends e's canonical JSON: what encoding/json writes for Entry with HTML
// escaping off (the tests hold the two equal), without reflection, since an entry is encoded
// on every decision.
func appendEntry(b []byte, e *Entry) []byte {
	w := encoder{b: append(b, '{'), first: true}
	w.str("addr", e.Addr, true)
	w.str("code", e.Code, true)
	w.str("config", e.Config, false)
	w.strs("countries", e.Countries)
	if e.Epoch != 0 {
		w.key("epoch")
		w.b = strconv.AppendUint(w.b, e.Epoch, 10)
	}
	w.dc("home", e.Home)
	w.str("kind", e.Kind, false)
	w.dcs("kms", e.KMS)
	w.str("meeting", e.Meeting, true)
	w.str("participant", e.Participant, true)
	if p := e.Party; p != nil {
		w.key("party")
		b := append(w.b, `{"account":`...)
		b = appendString(b, p.Account)
		b = append(b, `,"country":`...)
		b = appendString(b, p.Country)
		b = append(b, `,"host_account":`...)
		b = appendString(b, p.HostAccount)
		b = append(b, `,"host_data_regions":`...)
		if p.HostDataRegions == nil {
			b = append(b, "null"...)
		} else {
			b = appendStrings(b, p.HostDataRegions)
		}
		b = append(b, `,"host_plan":`...)
		b = appendString(b, p.HostPlan)
		b = append(b, `,"meeting_region":`...)
		b = appendString(b, p.MeetingRegion)
		b = append(b, `,"plan":`...)
		b = appendString(b, p.Plan)
		b = append(b, `,"region":`...)
		b = appendString(b, p.Region)
		w.b = append(b, '}')
	}
	w.str("previous", e.Previous, true)
	w.dcs("primary", e.Primary)
	w.str("region", e.Region, false)
	if e.Rev != 0 {
		w.key("rev")
		w.b = strconv.AppendInt(w.b, e.Rev, 10)
	}
	w.strs("rules", e.Rules)
	w.dcs("secondary", e.Secondary)
	w.dc("server", e.Server)
	w.str("time", e.Time, false)
	w.key("v")
	w.b = strconv.AppendInt(w.b, int64(e.V), 10)
	if v := e.Verify; v != nil {
		w.key("verify")
		b := append(w.b, `{"errors":`...)
		b = strconv.AppendInt(b, int64(v.Errors), 10)
		if len(v.Findings) > 0 {
			b = append(b, `,"findings":`...)
			b = appendStrings(b, v.Findings)
		}
		b = append(b, `,"ok":`...)
		b = strconv.AppendBool(b, v.OK)
		b = append(b, `,"warnings":`...)
		b = strconv.AppendInt(b, int64(v.Warnings), 10)
		w.b = append(b, '}')
	}
	return append(w.b, '}')
}

// encoder writes an object's members in the order it is called with.
type encoder struct {
	b     []byte
	first bool
}

func (w *encoder) key(k string) {
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

func (w *encoder) str(k, v string, omitEmpty bool) {
	if v == "" && omitEmpty {
		return
	}
	w.key(k)
	w.b = appendString(w.b, v)
}

func (w *encoder) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	w.key(k)
	w.b = appendStrings(w.b, v)
}

func (w *encoder) dc(k string, v *DC) {
	if v == nil {
		return
	}
	w.key(k)
	w.b = appendDC(w.b, v)
}

func (w *encoder) dcs(k string, v []DC) {
	if len(v) == 0 {
		return
	}
	w.key(k)
	w.b = appendDCs(w.b, v)
}

func appendDC(b []byte, d *DC) []byte {
	b = append(b, `{"country":`...)
	b = appendString(b, d.Country)
	b = append(b, `,"id":`...)
	b = appendString(b, d.ID)
	return append(b, '}')
}

func appendDCs(b []byte, ds []DC) []byte {
	b = append(b, '[')
	for i := range ds {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendDC(b, &ds[i])
	}
	return append(b, ']')
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// appendString appends s as a JSON string: ids, codes and hashes are printable ASCII and go
// as they are; anything else is left to encoding/json, so that escapes are exactly its own.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
			return appendStringSlow(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendStringSlow(b []byte, s string) []byte {
	var buf []byte
	w := jsonWriter{&buf}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return append(b, buf[:len(buf)-1]...) // without the newline
}

type jsonWriter struct{ b *[]byte }

func (w jsonWriter) Write(p []byte) (int, error) { *w.b = append(*w.b, p...); return len(p), nil }
