package node

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// ErrBadConfig wraps every invalid --system-config.
var ErrBadConfig = errors.New("goray: invalid system config")

// SystemConfig holds the --system-config settings goray knows, under Ray's
// names. Defaults are Ray's.
type SystemConfig struct {
	// HealthCheckPeriod: how often the GCS checks each node
	// (health_check_period_ms, default 3000).
	HealthCheckPeriod time.Duration
	// HealthCheckTimeout: how long a check may take
	// (health_check_timeout_ms, default 10000).
	HealthCheckTimeout time.Duration
	// HealthCheckFailureThreshold: failed checks in a row before a node is
	// declared dead (health_check_failure_threshold, default 5).
	HealthCheckFailureThreshold int
	// HealthCheckInitialDelay: grace before the first check
	// (health_check_initial_delay_ms, default 5000).
	HealthCheckInitialDelay time.Duration
	// ObjectStoreFullDelay: how long a put waits for space
	// (object_store_full_delay_ms, default 1000 here).
	ObjectStoreFullDelay time.Duration
	// ObjectSpillingConfig is accepted and kept (spilling comes later).
	ObjectSpillingConfig string
}

// DefaultSystemConfig returns Ray's defaults.
func DefaultSystemConfig() SystemConfig {
	return SystemConfig{
		HealthCheckPeriod: 3 * time.Second, HealthCheckTimeout: 10 * time.Second,
		HealthCheckFailureThreshold: 5, HealthCheckInitialDelay: 5 * time.Second,
		ObjectStoreFullDelay: time.Second,
	}
}

var knownKeys = []string{
	"health_check_period_ms", "health_check_timeout_ms", "health_check_failure_threshold",
	"health_check_initial_delay_ms", "object_store_full_delay_ms", "object_spilling_config",
}

// ParseSystemConfig parses a --system-config JSON object. Unknown keys and
// values of the wrong type or sign are errors, so typos don't go unnoticed.
func ParseSystemConfig(js string) (SystemConfig, error) {
	cfg := DefaultSystemConfig()
	if strings.TrimSpace(js) == "" {
		return cfg, nil
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader([]byte(js)))
	if err := dec.Decode(&raw); err != nil {
		return cfg, fmt.Errorf("%w: not a JSON object: %v", ErrBadConfig, err)
	}
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ms := func(k string, dst *time.Duration) error {
		var v int64
		if err := json.Unmarshal(raw[k], &v); err != nil || v < 0 {
			return fmt.Errorf("%w: %s must be a non-negative integer of milliseconds, got %s", ErrBadConfig, k, raw[k])
		}
		*dst = time.Duration(v) * time.Millisecond
		return nil
	}
	for _, k := range keys {
		var err error
		switch k {
		case "health_check_period_ms":
			err = ms(k, &cfg.HealthCheckPeriod)
		case "health_check_timeout_ms":
			err = ms(k, &cfg.HealthCheckTimeout)
		case "health_check_initial_delay_ms":
			err = ms(k, &cfg.HealthCheckInitialDelay)
		case "object_store_full_delay_ms":
			err = ms(k, &cfg.ObjectStoreFullDelay)
		case "health_check_failure_threshold":
			var v int
			if json.Unmarshal(raw[k], &v) != nil || v < 1 {
				err = fmt.Errorf("%w: %s must be an integer >= 1, got %s", ErrBadConfig, k, raw[k])
			}
			cfg.HealthCheckFailureThreshold = v
		case "object_spilling_config":
			var v string
			if json.Unmarshal(raw[k], &v) != nil {
				v = string(raw[k]) // Ray takes a JSON string; accept an object too
			}
			cfg.ObjectSpillingConfig = v
		default:
			err = fmt.Errorf("%w: unknown key %q (known: %s)", ErrBadConfig, k, strings.Join(knownKeys, ", "))
		}
		if err != nil {
			return cfg, err
		}
	}
	if cfg.HealthCheckPeriod == 0 {
		return cfg, fmt.Errorf("%w: health_check_period_ms must be > 0", ErrBadConfig)
	}
	return cfg, nil
}
