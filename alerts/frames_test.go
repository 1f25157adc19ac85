package alerts

import (
	"strings"
	"testing"
)

// TestNoYoungStreamFrameStall: SRS adds a stream's video frames in
// batches, so srs_stream_video_frames_total reads 0 for the first 10–15 s
// of a new stream and then jumps. A rule reading "frames not increasing"
// as a stall must therefore skip young streams: any rule using the frame
// counter also has to read the publisher's age.
func TestNoYoungStreamFrameStall(t *testing.T) {
	checked := 0
	for _, f := range glob(t, "*.rules.yml") {
		var rf ruleFile
		readYAML(t, f, &rf)
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				checked++
				if strings.Contains(r.Expr, "srs_stream_video_frames_total") && !strings.Contains(r.Expr, "srs_stream_publisher_alive_seconds") {
					t.Errorf("%s: %s%s reads srs_stream_video_frames_total without srs_stream_publisher_alive_seconds: a young stream's frames stay 0 for 10-15 s", f, r.Alert, r.Record)
				}
			}
		}
	}
	if checked < 10 {
		t.Fatalf("only %d rules read", checked)
	}
}
