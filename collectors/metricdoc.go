package collectors

// MetricDoc documents one row of a collector's metric table in
// docs/metrics.md. Each collector package returns its rows from
// MetricDocs(); tools/metricsdoc renders them, and its tests check that
// the rows name exactly the families the collector describes.
type MetricDoc struct {
	// Names are the families the row documents (usually one; a pair
	// such as a value and its high-water mark may share a row).
	Names []string
	// Type is gauge, counter or histogram.
	Type string
	// Labels is markdown: the variable label names, with their values
	// where they are few. Empty when the family has none.
	Labels string
	// Help is markdown: what the value means.
	Help string
	// Source is markdown: the upstream field or computation the value
	// comes from.
	Source string
	// Native is markdown: the name the upstream's own exporter uses for
	// the same quantity ("—" when it has none). Empty when not compared.
	Native string
}
