package ipam

import (
	"cmp"
	"fmt"
	"slices"
)

// overlaps reports every range that overlaps an earlier one (in address
// order), naming both by their labels.
func overlaps(ranges []Range, labels []string) []error {
	order := make([]int, len(ranges))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		return cmp.Or(ranges[i].First.Compare(ranges[j].First), cmp.Compare(i, j))
	})
	var errs []error
	reach := -1 // the range reaching furthest so far
	for _, i := range order {
		if reach >= 0 && ranges[i].First.Compare(ranges[reach].Last) <= 0 {
			a, b := min(reach, i), max(reach, i)
			errs = append(errs, fmt.Errorf("%s overlaps %s", labels[a], labels[b]))
		}
		if reach < 0 || ranges[i].Last.Compare(ranges[reach].Last) > 0 {
			reach = i
		}
	}
	return errs
}
