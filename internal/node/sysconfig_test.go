package node

import (
	"errors"
	"testing"
	"time"
)

func TestParseSystemConfig(t *testing.T) {
	cfg, err := ParseSystemConfig(`{"health_check_period_ms": 100, "health_check_failure_threshold": 3,
		"object_spilling_config": "{\"type\":\"filesystem\",\"params\":{\"directory_path\":\"/tmp/spill\"}}"}`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HealthCheckPeriod != 100*time.Millisecond || cfg.HealthCheckFailureThreshold != 3 ||
		cfg.HealthCheckTimeout != 10*time.Second || cfg.ObjectSpillingConfig == "" {
		t.Fatalf("parsed %+v", cfg)
	}
	for _, bad := range []string{`{"health_check_perod_ms": 1}`, `[1]`, `{"health_check_period_ms": -5}`,
		`{"health_check_failure_threshold": 0}`, `{"health_check_period_ms": "fast"}`, `{`} {
		if _, err := ParseSystemConfig(bad); !errors.Is(err, ErrBadConfig) {
			t.Fatalf("%s: want ErrBadConfig, got %v", bad, err)
		}
	}
	if cfg, err := ParseSystemConfig(""); err != nil || cfg != DefaultSystemConfig() {
		t.Fatalf("empty config: %+v, %v", cfg, err)
	}
}
