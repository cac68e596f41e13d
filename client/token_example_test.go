package client_test

import (
	"crypto/ed25519"
	"fmt"
	"log"
	"time"

	"github.com/geofence/geofence/client"
	"github.com/geofence/geofence/identity"
)

// A customer's backend mints a join token for one of its users, with the account key it made
// with `geofence token --new-key acme.pem --kid acme-2026` (whose public half the operator
// registered on the account), and hands it to that user's client, which joins with it.
func ExampleMintJoinToken() {
	pemBytes := []byte(`-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIJKlOldvK/BLsQih/vkjZX4GeL+nC4AePMGM0TgAu+pT
-----END PRIVATE KEY-----
`) // in production: os.ReadFile of the key file, kept out of the web tier
	key, err := identity.ParsePrivateKey(pemBytes)
	if err != nil {
		log.Fatal(err)
	}
	token, err := client.MintJoinToken(key, "acme-2026", "acme", "alice", client.JoinTokenOptions{
		Meeting: "m-42",
		TTL:     15 * time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	// The token goes to alice's client. Here, check it as the directory would.
	pub := key.Public().(ed25519.PublicKey)
	v := identity.Verifier{Keys: identity.KeysFunc(func(account, kid string) (ed25519.PublicKey, error) {
		if account == "acme" && kid == "acme-2026" {
			return pub, nil
		}
		return nil, identity.ErrUnknownKey
	})}
	id, err := v.Verify(token)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(id.Account, id.Participant, id.Meeting, id.Host)
	fmt.Println("registered as", identity.EncodePublicKey(pub))
	// Output:
	// acme alice m-42 false
	// registered as zgtY0A0dEPd6BANk-NQtYIAnT_JD3jTx8BlE-tBu6LQ
}
