package keywrap_test

import (
	"testing"

	"github.com/geofence/geofence/crypto/keywrap"
)

func BenchmarkWrap(b *testing.B) {
	for _, s := range allSuites {
		b.Run(s.String(), func(b *testing.B) {
			pub := generate(b, s).PublicKey()
			key := meetingKey()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keywrap.Wrap(pub, key, binding); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkUnwrap(b *testing.B) {
	for _, s := range allSuites {
		b.Run(s.String(), func(b *testing.B) {
			priv := generate(b, s)
			w, err := keywrap.Wrap(priv.PublicKey(), meetingKey(), binding)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keywrap.Unwrap(priv, w, binding); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkParsePublicKey(b *testing.B) {
	for _, s := range allSuites {
		b.Run(s.String(), func(b *testing.B) {
			text := generate(b, s).PublicKey().String()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := keywrap.ParsePublicKey(text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
