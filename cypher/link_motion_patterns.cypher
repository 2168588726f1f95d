// Returns every motion pattern for the motion linker: name, embedding (of its description).
// params: none
// surface: internal
MATCH (m:MotionPattern)
RETURN m.name AS name, m.embedding AS embedding
ORDER BY name
