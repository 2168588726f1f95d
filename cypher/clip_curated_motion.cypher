// Returns the curated HAS_MOTION links of the given clips, which automatic analysis must never replace.
// params: $ids (list of Clip id values)
// surface: internal
UNWIND $ids AS id
MATCH (c:Clip {id: id})-[r:HAS_MOTION]->(m:MotionPattern)
WHERE r.source = 'curated'
RETURN c.id AS clip, m.name AS pattern
