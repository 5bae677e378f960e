package keepalived

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/client-go/util/flowcontrol"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestRestartDelay(t *testing.T) {
	tests := []struct {
		name string
		runs []time.Duration // how long keepalived ran before each death
		want []time.Duration // the delay before each restart
	}{
		{name: "quick deaths double the delay up to the cap",
			runs: []time.Duration{0, time.Second, 0, 0, 0, 0, 0},
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second}},
		{name: "a death a minute after the last starts over",
			runs: []time.Duration{0, 0, 0, 0, 0, 0, 31 * time.Second, 0},
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, time.Second, 2 * time.Second}},
		{name: "a long run starts over",
			runs: []time.Duration{0, 0, 0, 2 * time.Minute, 0},
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, time.Second, 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := clocktesting.NewFakeClock(time.Unix(0, 0))
			p := &Process{Backoff: flowcontrol.NewFakeBackOff(time.Second, 30*time.Second, clock)}
			var got []time.Duration
			for _, run := range tt.runs {
				clock.Step(run)
				delay := p.nextDelay()
				got = append(got, delay)
				clock.Step(delay)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delays (-want +got):\n%s", diff)
			}
		})
	}
}
