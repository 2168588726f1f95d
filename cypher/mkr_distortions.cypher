// Returns the distortions recorded on the given motion patterns: pattern, distortions (list of short texts, empty when none are recorded); unknown names give no row.
// params: $patterns (list of MotionPattern names)
// surface: internal
UNWIND $patterns AS name
MATCH (m:MotionPattern {name: name})
RETURN m.name AS pattern, coalesce(m.distortions, []) AS distortions
