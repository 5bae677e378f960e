package ipam

// FindOverlaps reports every range that overlaps an earlier one in address
// order, naming both by their labels (labels[i] names ranges[i]). It lets
// callers that read ranges from elsewhere, such as a pools file, check them
// with the same rule and wording as NewAllocator. All ranges must be valid.
func FindOverlaps(ranges []Range, labels []string) []error {
	return overlaps(ranges, labels)
}
