package resources

import "testing"

func TestArithmetic(t *testing.T) {
	total, err := FromFloats(map[string]float64{"CPU": 2, "alice": 1})
	if err != nil {
		t.Fatal(err)
	}
	tenth, _ := FromFloats(map[string]float64{"CPU": 0.1})
	avail := total.Clone()
	for range 20 {
		if !avail.Fits(tenth) {
			t.Fatal("0.1 CPU should fit")
		}
		avail.Sub(tenth)
	}
	if avail.Fits(tenth) || avail["CPU"] != 0 {
		t.Fatalf("after 20 x 0.1 of 2 CPUs: %v", avail)
	}
	if got := total.String(); got != "{CPU: 2, alice: 1}" {
		t.Fatalf("String = %q", got)
	}
	if total.Key() != "CPU=20000,alice=10000" {
		t.Fatalf("Key = %q", total.Key())
	}
	for _, bad := range []map[string]float64{{"CPU": -1}, {"": 1}} {
		if _, err := FromFloats(bad); err == nil {
			t.Fatalf("%v: want error", bad)
		}
	}
	z, _ := FromFloats(map[string]float64{"GPU": 0})
	if len(z) != 0 {
		t.Fatalf("zeros must be dropped: %v", z)
	}
}
