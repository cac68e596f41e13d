// Package jsonapi is the JSON plumbing the HTTP services (directory, DC agent, key server)
// share: decoding request bodies, which are untrusted input, and writing answers. Operator
// bodies are decoded strictly ([Decode]: an unknown member is an error, so that a typo in an
// operator's request is not silently ignored); participant bodies leniently ([DecodeLenient]:
// unknown members are ignored, so that a newer client works with an older server, DESIGN.md
// section 7). It knows nothing of what the bodies mean.
package jsonapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// Decode reads one JSON object from body into v, strictly: unknown members, trailing data and
// an empty body are errors, each with a message fit to show the caller. Use it for operator
// bodies.
func Decode(body io.Reader, v any) error { return decode(body, v, true) }

// DecodeLenient reads one JSON object from body into v as Decode does, except that members v
// does not have are ignored. Trailing data and an empty body are still errors. Use it for
// participant bodies (connect, heartbeat, disconnect, key, leave).
func DecodeLenient(body io.Reader, v any) error { return decode(body, v, false) }

func decode(body io.Reader, v any, strict bool) error {
	dec := json.NewDecoder(body)
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return errors.New("request body is empty; send a JSON object")
		case errors.As(err, &tooBig):
			return fmt.Errorf("request body is larger than %d bytes", tooBig.Limit)
		}
		return fmt.Errorf("request body is not a JSON object of the expected shape: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fmt.Errorf("request body is larger than %d bytes", tooBig.Limit)
		}
		return errors.New("request body has data after its JSON object")
	}
	return nil
}

// Write answers with v as JSON and the given status.
func Write(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}
