package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
)

// Units of a metric.
const (
	UnitRate = "1/s"  // operations per second
	UnitGBps = "GB/s" // gigabytes (1e9 bytes) per second
)

// Result is one metric's outcome: the mean and standard deviation of its
// trial rates.
type Result struct {
	Name   string
	Unit   string
	Mean   float64
	SD     float64
	Trials []float64 // the per-trial rates
}

// Mean is the arithmetic mean of xs (0 for none).
func Mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// SD is the population standard deviation of xs (numpy.std's default,
// which Ray's microbenchmark reports); 0 for fewer than two values.
func SD(xs []float64) float64 {
	if len(xs) < 2 {
		return 0
	}
	m := Mean(xs)
	s := 0.0
	for _, x := range xs {
		s += (x - m) * (x - m)
	}
	return math.Sqrt(s / float64(len(xs)))
}

// Line renders r as Ray prints it: "NAME per second MEAN +- SD", or
// "NAME GB per second MEAN +- SD" for gigabyte metrics, two decimals.
func (r Result) Line() string {
	per := "per second"
	if r.Unit == UnitGBps {
		per = "GB per second"
	}
	return fmt.Sprintf("%s %s %.2f +- %.2f", r.Name, per, r.Mean, r.SD)
}

type jsonResult struct {
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	Unit string  `json:"unit"`
}

// WriteJSON writes results as {"NAME": {"mean": M, "sd": S, "unit": U}}.
func WriteJSON(w io.Writer, results []Result) error {
	m := make(map[string]jsonResult, len(results))
	for _, r := range results {
		m[r.Name] = jsonResult{Mean: r.Mean, SD: r.SD, Unit: r.Unit}
	}
	return writeIndentJSON(w, m)
}

func writeIndentJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// WriteJSONFile writes results to the file at path (see WriteJSON).
func WriteJSONFile(path string, results []Result) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteJSON(f, results); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
