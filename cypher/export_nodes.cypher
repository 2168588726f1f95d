// Returns one row per node label for export: label, rows (a list of [key, embedding, motion]; key is id, or name for Category and MotionPattern; motion is set on clips only).
// params: none
// One row per label with collected lists crosses Bolt several times faster than a row per node.
// surface: internal
MATCH (n)
WITH labels(n)[0] AS label, collect([coalesce(n.id, n.name), n.embedding, n.motion]) AS rows
RETURN label, rows
