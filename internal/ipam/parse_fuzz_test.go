package ipam

import "testing"

func FuzzParseRanges(f *testing.F) {
	for _, seed := range []string{
		"10.0.0.0/24", "10.210.38.100/26", "10.0.0.0/31, 10.0.0.2/32", "10.0.0.1-10.0.0.9, 10.0.1.0/30",
		"0.0.0.0/0", "255.255.255.255", "2001:db8::/64", "::ffff:10.0.0.1", "10.0.0.9-10.0.0.1", ",",
		"10.0.0.0/24, 10.0.0.128/25", " 10.0.0.1 - 10.0.0.2 ", "1.2.3.4/-1", "1-2-3",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ranges, _, err := ParseRanges(spec)
		if err != nil {
			if ranges != nil {
				t.Fatalf("ranges %v returned with error %v", texts(ranges), err)
			}
			return
		}
		if len(ranges) == 0 {
			t.Fatal("no ranges and no error")
		}
		for i, r := range ranges {
			if !r.First.Is4() || !r.Last.Is4() || r.First.Compare(r.Last) > 0 {
				t.Fatalf("bad range %v", texts([]Range{r}))
			}
			for _, o := range ranges[:i] {
				if r.First.Compare(o.Last) <= 0 && o.First.Compare(r.Last) <= 0 {
					t.Fatalf("ranges %v overlap", texts([]Range{o, r}))
				}
			}
			back, warnings, err := ParseRanges(r.String())
			if err != nil || len(warnings) > 0 || len(back) != 1 || back[0] != r {
				t.Fatalf("%v does not round-trip via %q: %v, %v, %v", texts([]Range{r}), r, texts(back), warnings, err)
			}
		}
	})
}
