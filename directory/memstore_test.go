package directory_test

import (
	"testing"

	"github.com/geofence/geofence/directory"
	"github.com/geofence/geofence/directory/storetest"
)

func TestMemoryStore(t *testing.T) {
	storetest.Run(t, func(*testing.T) directory.Store { return directory.NewMemoryStore() })
}
