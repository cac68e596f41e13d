package loadtest

import (
	"testing"

	"github.com/geofence/geofence/internal/etcdtest"
)

func TestMain(m *testing.M) { etcdtest.Main(m) }
